"""One function per predicate kind: a claim row and the facts in, a verdict with its evidence out.

supported / contradicted: the data decides. inconclusive: measured, but the data cannot decide (the
repetitions spread across the line, or the run measured a development server where the claim is
about a deployment). not measured: what is missing and the command that measures it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable

from harness.claims.facts import Facts, Pick, conditions_of, machine, measured_on
from harness.claims.metrics import METRICS, Figure, fault_outcomes
from harness.claims.model import Claim, ClaimsFile, reason_text
from harness.model.record import RunRecord

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
SEVERITY = ("contradicted", "inconclusive", "not measured", "supported")  # how per-platform verdicts combine


@dataclass
class Outcome:
    verdict: str
    evidence: str
    records: list[RunRecord] = field(default_factory=list)
    missing: str = ""  # not measured: what is missing and how to measure it


def _not_measured(missing: str) -> Outcome:
    """Nothing measured decides: the evidence is empty, `missing` says what to run."""
    return Outcome("not measured", "", missing=missing)


def _also(claim: Claim, record: RunRecord) -> str:
    """The claim's context figures from the same run ('; engine queued -> started p50 7.471 ms')."""
    parts = []
    for name in claim.also:
        fig = METRICS[name].read(record)
        if fig is not None:
            parts.append(f"{METRICS[name].label} {METRICS[name].describe(fig)}")
    return "".join(f"; {p}" for p in parts)


def _dev_note(platform: str, record: RunRecord) -> str:
    return (
        f"; but {platform} was measured only as '{record.deployment.description or record.deployment.kind}' "
        f"({record.deployment.kind}), not the deployment the claim describes"
    )


def _straddles(fig: Figure, op: str, value: float) -> bool:
    """The repetitions fall on both sides of the line, and spread too much to trust the median."""
    s = fig.spread
    return bool(s and s.unstable and OPS[op](s.min, value) != OPS[op](s.max, value))


# -- threshold ------------------------------------------------------------------------------------
def threshold(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    outcomes = [_threshold_one(claim, facts, p) for p in claim.platforms]
    return _combine(outcomes)


def _threshold_one(claim: Claim, facts: Facts, platform: str) -> Outcome:
    pred = claim.predicate
    got = facts.pick(platform, claim.needs.measures, claim.needs.deployment)
    if got.figure is None:
        return _not_measured(got.missing)
    metric = METRICS[got.metric]
    who = platform if got.record.platform == platform else f"{platform} (as {got.record.platform})"
    ev = (
        f"{who}, {got.workload}: {metric.label} {metric.describe(got.figure)}{_also(claim, got.record)}"
        f"{measured_on(got.record)}; claimed {pred.op} {metric.show(pred.value)}{_preferred(got)}"
    )
    out = Outcome("", ev, [got.record], missing=got.missing)
    if got.dev:
        out.verdict, out.evidence = "inconclusive", ev + _dev_note(platform, got.record)
    elif _straddles(got.figure, pred.op, pred.value):
        out.verdict, out.evidence = "inconclusive", ev + "; the repetitions disagree too much to decide"
    elif OPS[pred.op](got.figure.value, pred.value):
        out.verdict = "supported"
    elif got.figure.lower_bound and pred.op in (">", ">="):
        out.verdict, out.evidence = "inconclusive", ev + "; the figure is a lower bound, below the claim"
    else:
        out.verdict = "contradicted"
    return out


def _preferred(got: Pick) -> str:
    return " (the preferred measure is not measured yet: see missing)" if got.skipped else ""


def _combine(outcomes: list[Outcome]) -> Outcome:
    if len(outcomes) == 1:
        return outcomes[0]
    verdict = min((o.verdict for o in outcomes), key=SEVERITY.index)
    return Outcome(
        verdict,
        " | ".join(o.evidence for o in outcomes if o.evidence),
        [r for o in outcomes for r in o.records],
        "; ".join(o.missing for o in outcomes if o.missing),
    )


# -- ranking --------------------------------------------------------------------------------------
def ranking(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    pred = claim.predicate
    picks = {p: facts.pick(p, claim.needs.measures, claim.needs.deployment) for p in pred.levels}
    got = {p: g for p, g in picks.items() if g.figure is not None}
    missing = {p: g.missing for p, g in picks.items() if g.figure is None}
    claimed = _claimed_order(pred.levels)
    if pred.focus and pred.focus not in got:
        return _not_measured(missing[pred.focus])
    if len({pred.levels[p] for p in got}) < 2:
        if pred.focus:
            only = METRICS[got[pred.focus].metric]
            return Outcome(
                "inconclusive",
                f"{pred.focus} {only.label} {only.describe(got[pred.focus].figure)}; no other platform to compare",
                [got[pred.focus].record],
                "; ".join(missing.values()),
            )
        return _not_measured(f"needs at least two of {claimed} measured: " + "; ".join(missing.values()))
    metric = METRICS[got[next(iter(got))].metric]
    ev = f"{metric.label}: " + ", ".join(
        f"{p} {metric.describe(g.figure)}" for p, g in sorted(got.items(), key=lambda kv: kv[1].figure.value)
    )
    ev += f" (claimed order: {claimed})" + _also_each(claim, got)
    if missing:
        ev += "; not measured: " + ", ".join(missing)
    records = [g.record for g in got.values()]
    devs = [p for p, g in got.items() if g.dev]
    if devs:
        return Outcome(
            "inconclusive",
            ev + f"; {', '.join(devs)} measured only as a development server",
            records,
            "; ".join(missing.values()),
        )
    wrong, undecided = _pairs(pred.levels, got, pred.focus)
    verdict = "contradicted" if wrong else "inconclusive" if undecided else "supported"
    if wrong:
        ev += "; out of order: " + ", ".join(f"{a} not below {b}" for a, b in wrong)
    elif undecided:
        ev += "; spreads overlap: " + ", ".join(f"{a} vs {b}" for a, b in undecided)
    return Outcome(verdict, ev, records, "; ".join(missing.values()))


def _also_each(claim: Claim, got: dict[str, Pick]) -> str:
    """The claim's context figures for every ranked platform ('; start -> ready: prefect 9.8 s, ...')."""
    parts = []
    for name in claim.also:
        metric = METRICS[name]
        figs = {p: metric.read(g.record) for p, g in got.items()}
        shown = ", ".join(f"{p} {metric.describe(f)}" for p, f in figs.items() if f is not None)
        parts.append(f"; {metric.label}: {shown}" if shown else "")
    return "".join(parts)


def _claimed_order(levels: dict[str, int]) -> str:
    by_level: dict[int, list[str]] = {}
    for p, level in levels.items():
        by_level.setdefault(level, []).append(p)
    return " < ".join(" = ".join(ps) for _, ps in sorted(by_level.items()))


def _pairs(levels: dict[str, int], got: dict[str, Pick], focus: str | None):
    """Pairs the claim orders (a claimed below b) that the figures contradict, and those they cannot decide."""
    wrong, undecided = [], []
    for a in got:
        for b in got:
            if levels[a] >= levels[b] or (focus and focus not in (a, b)):
                continue
            fa, fb = got[a].figure, got[b].figure
            if _overlap(fa, fb) or (fb.lower_bound and not fa.value < fb.value):
                undecided.append((a, b))  # b's true value may still be above a's
            elif not fa.value < fb.value:
                wrong.append((a, b))
    return wrong, undecided


def _overlap(fa: Figure, fb: Figure) -> bool:
    sa, sb = fa.spread, fb.spread
    if not (sa and sb and (sa.unstable or sb.unstable)):
        return False
    return sa.min <= sb.max and sb.min <= sa.max


# -- ratio ----------------------------------------------------------------------------------------
def ratio(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    pred, subject = claim.predicate, claim.platforms[0]
    a = facts.pick(subject, claim.needs.measures, claim.needs.deployment)
    b = facts.pick(pred.baseline, claim.needs.measures, claim.needs.deployment)
    if a.figure is None or b.figure is None:
        return _not_measured("; ".join(g.missing for g in (a, b) if g.figure is None))
    metric = METRICS[a.metric]
    times = (
        (b.figure.value / a.figure.value if metric.better == "lower" else a.figure.value / b.figure.value)
        if min(a.figure.value, b.figure.value) > 0
        else float("inf")
    )
    ev = (
        f"{a.workload}: {metric.label}: {subject} {metric.describe(a.figure)}, {pred.baseline} "
        f"{metric.describe(b.figure)}: {subject} {times:.1f}x better; claimed at least {pred.at_least:g}x"
        f"{measured_on(a.record)}"
    )
    records = [a.record, b.record]
    devs = [p for p, g in ((subject, a), (pred.baseline, b)) if g.dev]
    if devs:
        return Outcome("inconclusive", ev + f"; {', '.join(devs)} measured only as a development server", records)
    lo, hi = _ratio_range(a.figure, b.figure, metric.better)
    if lo is not None and lo < pred.at_least <= hi:
        return Outcome("inconclusive", ev + f"; over the repetitions the ratio spans {lo:.1f}-{hi:.1f}x", records)
    return Outcome("supported" if times >= pred.at_least else "contradicted", ev, records)


def _ratio_range(a: Figure, b: Figure, better: str) -> tuple[float | None, float | None]:
    sa, sb = a.spread, b.spread
    if not (sa and sb and (sa.unstable or sb.unstable)) or min(sa.min, sb.min) <= 0:
        return None, None
    if better == "lower":
        return sb.min / sa.max, sb.max / sa.min
    return sa.min / sb.max, sa.max / sb.min


# -- fault scenario outcome -----------------------------------------------------------------------
def fault(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    return _combine([_fault_platform(claim, facts, p) for p in claim.platforms])


def _fault_platform(claim: Claim, facts: Facts, platform: str) -> Outcome:
    """Each fault workload is one experiment; those not run yet are named beside the verdict of the others."""
    outcomes = [_fault_one(claim, facts, platform, m.workload) for m in claim.needs.measures]
    measured = [o for o in outcomes if o.verdict != "not measured"]
    if not measured:
        return _combine(outcomes)
    out = _combine(measured)
    missing = "; ".join(o.missing for o in outcomes if o.verdict == "not measured")
    if missing:
        out.evidence += f"; not measured yet: {missing}"
        out.missing = missing
    return out


def _fault_one(claim: Claim, facts: Facts, platform: str, workload: str) -> Outcome:
    pred, scenarios = claim.predicate, claim.needs.fault_scenarios()
    scenario = " or ".join(scenarios)
    found = facts.find(platform, workload, claim.needs.deployment)
    if found.record is None:
        return _not_measured(f"fault scenario {scenario}: {found.problem}")
    done = [o for o in fault_outcomes(found.record) if o.scenario in scenarios]
    if not done:
        return _not_measured(
            f"{platform} run {found.record.run_id} ({workload}) has no {scenario} experiment that "
            f"ran as designed: {facts.command(platform, workload)}"
        )
    parts, holds = [], True
    for e in pred.expect:
        metric, fig = METRICS[e.metric], METRICS[e.metric].read(found.record)
        ok = fig is not None and OPS[e.op](fig.value, e.value)
        holds &= ok
        shown = metric.describe(fig) if fig is not None else "not recorded"
        parts.append(f"{metric.label} {shown} (claimed {e.op} {metric.show(e.value)}{'' if ok else ': no'})")
    if pred.behaviours:
        seen = [o.behaviour for o in done]
        odd = [b for b in seen if b not in pred.behaviours]
        holds &= not odd
        parts.append(
            f"what it did: {', '.join(f'{b} x{seen.count(b)}' for b in dict.fromkeys(seen))} "
            f"(claimed {' or '.join(pred.behaviours)}{': no' if odd else ''})"
        )
    ev = (
        f"{platform}, {scenario} ({workload}, {len(done)} experiments): " + "; ".join(parts) + measured_on(found.record)
    )
    if found.dev:
        return Outcome("inconclusive", ev + _dev_note(platform, found.record), [found.record])
    return Outcome("supported" if holds else "contradicted", ev, [found.record])


# -- capability probe -----------------------------------------------------------------------------
def capability(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    return _combine([_capability_one(claim, facts, p) for p in claim.platforms])


def _capability_one(claim: Claim, facts: Facts, platform: str) -> Outcome:
    pred = claim.predicate
    only = {m.workload for m in claim.needs.measures}
    runs = [r for r in facts.runs_of(platform, claim.needs.deployment) if not only or r.workload.name in only]
    if not runs:
        found = facts.find(platform, sorted(only)[0] if only else "idle-60s", claim.needs.deployment)
        return _not_measured(found.problem or f"no complete run of {platform}")
    having = sorted((r for r in runs if pred.endpoint in r.endpoints), key=lambda r: r.started_at)
    if not having:
        return _not_measured(
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
        return Outcome("inconclusive", ev + _dev_note(platform, r), [r])
    return Outcome("supported", ev, [r])


# -- not measurable -------------------------------------------------------------------------------
def not_measurable(claim: Claim, _: Facts, parsed: ClaimsFile) -> Outcome:
    return Outcome("not measurable", reason_text(claim, parsed))


EVALUATORS: dict[str, Callable[[Claim, Facts, ClaimsFile], Outcome]] = {
    "threshold": threshold,
    "ranking": ranking,
    "ratio": ratio,
    "fault": fault,
    "capability": capability,
    "not_measurable": not_measurable,
}


def describe(outcome: Outcome) -> tuple[str, list[str], list[str]]:
    """Conditions, runs and machines of the records behind a verdict, each once."""
    runs = list(dict.fromkeys(f"{r.platform}/{r.run_id}" for r in outcome.records))
    machines = list(dict.fromkeys(machine(r) for r in outcome.records))
    return conditions_of(outcome.records), runs, machines
