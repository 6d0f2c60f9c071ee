"""One function per predicate kind: a claim row and the facts in, a verdict with its evidence out.

supported / contradicted: the 95% interval of the figure over independent runs lies wholly on one
side of the claim's threshold (an ordering: every pair it needs differs significantly), from at
least MIN_RUNS runs. inconclusive: measured, but the data cannot decide (too few runs, an interval
across the line, a development server where the claim is about a deployment); it says what would
decide it. not measured: what is missing and the command that measures it.
"""

from __future__ import annotations

from typing import Callable

from harness.claims.facts import Facts, Pick, condition_fields, conditions_of, machine, measured_on
from harness.claims.fault_claims import fault
from harness.claims.metrics import METRICS, Metric
from harness.claims.model import Claim, ClaimsFile, reason_text
from harness.claims.outcome import Outcome, also, combine, dev_note, estimate_fields, more_runs, not_measured, over_runs
from harness.claims.ranking import ranking
from harness.claims.stats import MIN_RUNS, exact_over_runs, median_over_runs, ratio_over_runs, side_of
from harness.claims.topology import on_replicated_topology


# -- threshold ------------------------------------------------------------------------------------
def threshold(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    return combine([_threshold_one(claim, facts, p) for p in claim.platforms])


def _threshold_one(claim: Claim, facts: Facts, platform: str) -> Outcome:
    pred = claim.predicate
    got = facts.pick(platform, claim.needs.measures, claim.needs.deployment)
    if got.figure is None:
        return not_measured(got.missing)
    metric = METRICS[got.metric]
    est = (exact_over_runs if metric.exact else median_over_runs)(got.values)
    enough = metric.exact or est.n >= MIN_RUNS
    who = platform if got.record.platform == platform else f"{platform} (as {got.record.platform})"
    ev = (
        f"{who}, {got.workload}: {metric.label} {metric.describe(got.figure)} in the latest run"
        f"{over_runs(metric, est)}{also(claim, got.record)}{measured_on(got.record)}{_assuming(metric)}; "
        f"claimed {pred.op} {metric.show(pred.value)}{_preferred(got)}"
    )
    stats = estimate_fields(metric, est, got.record) | {"threshold": pred.value, "threshold_source": _source(claim)}
    out = Outcome("inconclusive", ev, got.runs or [got.record], missing=got.missing, stats=stats)
    side = side_of(est.interval, pred.op, pred.value) if est.interval and enough else None
    if got.dev:
        out.evidence += dev_note(platform, got.record)
        out.stats["decides"] = f"a run of a production-shaped {platform} stack"
    elif not enough:
        out.stats["decides"] = more_runs(facts, got.record, got.workload, est.n)
    elif side == "holds":
        out.verdict = "supported"
    elif side == "fails" and got.figure.lower_bound and pred.op in (">", ">="):
        out.evidence += "; the figure is a lower bound, below the claim"
        out.stats["decides"] = "a sweep whose rates reach the platform's saturation"
    elif side == "fails":
        out.verdict = "contradicted"
    else:
        out.stats["decides"] = "more runs: the 95% interval spans the threshold"
    return out


def _assuming(metric: Metric) -> str:
    return f"; assuming: {'; '.join(metric.assumes)}" if metric.assumes else ""


def _preferred(got: Pick) -> str:
    return " (the preferred measure is not measured yet: see missing)" if got.skipped else ""


def _source(claim: Claim) -> str | None:
    return getattr(claim.predicate, "source", None)


# -- ratio ----------------------------------------------------------------------------------------
def ratio(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    pred, subject = claim.predicate, claim.platforms[0]
    a = facts.pick(subject, claim.needs.measures, claim.needs.deployment)
    b = facts.pick(pred.baseline, claim.needs.measures, claim.needs.deployment)
    if a.figure is None or b.figure is None:
        return not_measured("; ".join(g.missing for g in (a, b) if g.figure is None))
    metric = METRICS[a.metric]
    est = ratio_over_runs(a.values, b.values, metric.better == "lower")
    shown = f"{est.value:.1f}x" + (f", 95% [{est.interval[0]:.1f}, {est.interval[1]:.1f}]" if est.interval else "")
    ev = (
        f"{a.workload}: {metric.label}: {subject} {metric.describe(a.figure)} ({len(a.values)} runs), "
        f"{pred.baseline} {metric.describe(b.figure)} ({len(b.values)} runs): {subject} {shown} better "
        f"(medians over runs); claimed at least {pred.at_least:g}x{measured_on(a.record)}"
    )
    stats = estimate_fields(metric, est, a.record) | {
        "statistic": f"median {metric.label} of {pred.baseline} / of {subject}, over runs",
        "threshold": pred.at_least,
        "threshold_source": _source(claim),
    }
    out = Outcome("inconclusive", ev, [*a.runs, *b.runs], stats=stats)
    devs = [p for p, g in ((subject, a), (pred.baseline, b)) if g.dev]
    short = [(p, g) for p, g in ((subject, a), (pred.baseline, b)) if len(g.values) < MIN_RUNS]
    side = side_of(est.interval, ">=", pred.at_least) if est.interval else None
    if devs:
        out.evidence += f"; {', '.join(devs)} measured only as a development server"
        out.stats["decides"] = "runs of production-shaped stacks"
    elif short:
        out.stats["decides"] = "; ".join(more_runs(facts, g.record, g.workload, len(g.values)) for _, g in short)
    elif side is not None:
        out.verdict = "supported" if side == "holds" else "contradicted"
    else:
        out.stats["decides"] = "more runs: the 95% interval of the ratio spans the claimed factor"
    return out


# -- capability probe -----------------------------------------------------------------------------
def capability(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    return combine([_capability_one(claim, facts, p) for p in claim.platforms])


def _capability_one(claim: Claim, facts: Facts, platform: str) -> Outcome:
    pred = claim.predicate
    only = {m.workload for m in claim.needs.measures}
    runs = [r for r in facts.runs_of(platform, claim.needs.deployment) if not only or r.workload.name in only]
    if not runs:
        found = facts.find(platform, sorted(only)[0] if only else "idle-60s", claim.needs.deployment)
        return not_measured(found.problem or f"no complete run of {platform}")
    having = sorted((r for r in runs if pred.endpoint in r.endpoints), key=lambda r: r.started_at)
    if not having:
        return not_measured(
            f"none of {len(runs)} complete runs of {platform} recorded a '{pred.endpoint}' endpoint "
            f"(the stacks they ran exposed none; a run of a stack that lists one under `endpoints:` "
            f"records it: {facts.command(platform, 'idle-60s')})"
        )
    r = having[-1]
    ev = (
        f"{r.platform} run {r.run_id} exposed '{pred.endpoint}' at {r.endpoints[pred.endpoint]} "
        f"({len(having)} of {len(runs)} runs recorded it){measured_on(r)}"
    )
    if pred.setting and pred.setting in r.settings:
        s = r.settings[pred.setting]
        ev += f"; enabled by {pred.setting}={s.value} (default {s.default})"
    if r.deployment.kind not in ("production", "external") and claim.needs.deployment == "production":
        stats = {"decides": f"a run of a production-shaped {platform} stack"}
        return Outcome("inconclusive", ev + dev_note(platform, r), [r], stats=stats)
    stats = {"n": len(runs), "statistic": f"runs that recorded a '{pred.endpoint}' endpoint", "value": len(having)}
    return Outcome("supported", ev, [r], stats=stats | {"conditions": condition_fields(r)})


# -- fault ----------------------------------------------------------------------------------------
def fault_on_topology(claim: Claim, facts: Facts, parsed: ClaimsFile) -> Outcome:
    """A fault claim; one about failover or high availability only where the failing component has replicas."""
    return on_replicated_topology(claim, fault(claim, facts, parsed))


# -- not measurable -------------------------------------------------------------------------------
def not_measurable(claim: Claim, _: Facts, parsed: ClaimsFile) -> Outcome:
    return Outcome("not measurable", reason_text(claim, parsed))


EVALUATORS: dict[str, Callable[[Claim, Facts, ClaimsFile], Outcome]] = {
    "threshold": threshold,
    "ranking": ranking,
    "ratio": ratio,
    "fault": fault_on_topology,
    "capability": capability,
    "not_measurable": not_measurable,
}


def describe(outcome: Outcome) -> tuple[str, list[str], list[str]]:
    """Conditions, runs and machines of the records behind a verdict, each once."""
    runs = list(dict.fromkeys(f"{r.platform}/{r.run_id}" for r in outcome.records))
    machines = list(dict.fromkeys(machine(r) for r in outcome.records))
    return conditions_of(outcome.records), runs, machines
