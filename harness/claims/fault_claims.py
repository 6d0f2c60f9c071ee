"""Fault claims: what a platform did in a fault scenario, experiment by experiment. A claim holds
in an experiment when every figure it expects holds there and the platform behaved as claimed; the
verdict is the exact binomial interval of the share of experiments in which it held, against the
claim's min_share (claims.yaml)."""

from __future__ import annotations

import statistics
from typing import Any

from harness.claims.facts import Facts, condition_fields, measured_on
from harness.claims.metrics import METRICS, fault_outcomes
from harness.claims.model import Claim, ClaimsFile
from harness.claims.outcome import Outcome, combine, dev_note, not_measured
from harness.claims.stats import BINOMIAL, OPS, experiments_to_decide, share

DEFAULT_MIN_SHARE = 0.5


def fault(claim: Claim, facts: Facts, _: ClaimsFile) -> Outcome:
    return combine([_fault_platform(claim, facts, p) for p in claim.platforms])


def _fault_platform(claim: Claim, facts: Facts, platform: str) -> Outcome:
    """Each fault workload is its own set of experiments; those not run yet are named beside the others."""
    outcomes = [_fault_one(claim, facts, platform, m.workload) for m in claim.needs.measures]
    measured = [o for o in outcomes if o.verdict != "not measured"]
    if not measured:
        return combine(outcomes)
    out = combine(measured)
    missing = "; ".join(o.missing for o in outcomes if o.verdict == "not measured")
    if missing:
        out.evidence += f"; not measured yet: {missing}"
        out.missing = missing
    return out


def _held(claim: Claim, o: Any) -> bool:
    """The claim held in this one experiment."""
    pred = claim.predicate
    for e in pred.expect:
        value = METRICS[e.metric].of_outcomes([o])
        if value is None or not OPS[e.op](value, e.value):
            return False
    return not pred.behaviours or o.behaviour in pred.behaviours


def _fault_one(claim: Claim, facts: Facts, platform: str, workload: str) -> Outcome:
    pred, scenarios = claim.predicate, claim.needs.fault_scenarios()
    scenario = " or ".join(scenarios)
    found = facts.find(platform, workload, claim.needs.deployment)
    if found.record is None:
        return not_measured(f"fault scenario {scenario}: {found.problem}")
    runs = list(found.runs or (found.record,))
    done = [o for r in runs for o in fault_outcomes(r) if o.scenario in scenarios]
    if not done:
        return not_measured(
            f"{platform} run {found.record.run_id} ({workload}) has no {scenario} experiment that "
            f"ran as designed: {facts.command(platform, workload)}"
        )
    min_share = getattr(pred, "min_share", None) or DEFAULT_MIN_SHARE
    held = sum(_held(claim, o) for o in done)
    est = share(held, len(done))
    lo, hi = est.interval
    ev = (
        f"{platform}, {scenario} ({workload}, {len(done)} experiments in {len(runs)} run(s)): "
        + "; ".join(_figures(claim, done))
        + f"; the claim held in {held} of {len(done)} (95% [{lo:.2f}, {hi:.2f}], {BINOMIAL}; "
        f"claimed in more than {min_share:.0%}){measured_on(found.record)}"
    )
    stats = {
        "n": len(done),
        "statistic": "share of experiments in which the claim held",
        "value": est.value,
        "interval": est.interval,
        "interval_method": BINOMIAL,
        "threshold": min_share,
        "threshold_source": getattr(pred, "source", None),
        "conditions": condition_fields(found.record),
    }
    out = Outcome("inconclusive", ev, runs, stats=stats)
    if found.dev:
        out.evidence += dev_note(platform, found.record)
        out.stats["decides"] = f"experiments on a production-shaped {platform} stack"
    elif lo > min_share:
        out.verdict = "supported"
    elif hi < min_share:
        out.verdict = "contradicted"
    else:
        more = experiments_to_decide(held, len(done), min_share)
        out.stats["decides"] = (
            f"{more} more experiment(s) coming out as most have: {facts.command(platform, workload)}"
            if more is not None
            else "more experiments"
        )
    return out


def _figures(claim: Claim, done: list[Any]) -> list[str]:
    """The expected figures over all experiments, and what the platform did."""
    pred, parts = claim.predicate, []
    for e in pred.expect:
        metric = METRICS[e.metric]
        value = metric.of_outcomes(done)
        shown = metric.show(value) if value is not None else "not recorded"
        parts.append(f"{metric.label} {shown} in all (claimed {e.op} {metric.show(e.value)} in each)")
    if pred.behaviours:
        seen = [o.behaviour for o in done]
        parts.append(
            f"what it did: {', '.join(f'{b} x{seen.count(b)}' for b in dict.fromkeys(seen))} "
            f"(claimed {' or '.join(pred.behaviours)})"
        )
    return parts + _times(done)


def _times(done: list[Any]) -> list[str]:
    """How long the platform took, and what it ran twice: figures beside the verdict, never its condition."""
    after = sorted(o.first_completion_after_fault_s for o in done if o.first_completion_after_fault_s is not None)
    out = []
    if after:
        out.append(
            f"first task completed after the fault: median {statistics.median(after):.1f} s "
            f"[{after[0]:.1f}-{after[-1]:.1f}] over {len(after)} experiment(s)"
        )
    twice = sum(o.tasks_duplicated for o in done)
    if twice:
        out.append(f"tasks run twice {twice}")
    return out
