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


# A metric whose value depends on the window choice (analysis/drain.py): the claim is judged under
# every choice, and decided only where all agree (issue 21, item 4).
WINDOWED = "fault.drain_speedup"
DESIGNED = "as-designed"  # the windows the fault's record had before there were several


def _value(metric: str, o: Any, window: str) -> float | None:
    if metric == WINDOWED and o.drain_windows:
        return next((w.speedup for w in o.drain_windows if w.name == window), None)
    return METRICS[metric].of_outcomes([o]) if window == DESIGNED or metric != WINDOWED else None


def _held(claim: Claim, o: Any, window: str = DESIGNED) -> bool:
    """The claim held in this one experiment, with its figures read in `window`."""
    pred = claim.predicate
    for e in pred.expect:
        value = _value(e.metric, o, window)
        if value is None or not OPS[e.op](value, e.value):
            return False
    return not pred.behaviours or o.behaviour in pred.behaviours


def _windows(claim: Claim, done: list[Any]) -> list[str]:
    """The window choices the claim is judged under: every one the experiments recorded, if a figure
    it expects depends on the window; else the one."""
    if not any(e.metric == WINDOWED for e in claim.predicate.expect):
        return [DESIGNED]
    names = [w.name for o in done for w in o.drain_windows]
    return list(dict.fromkeys(names)) or [DESIGNED]


def _decided(held: int, n: int, min_share: float) -> str:
    lo, hi = share(held, n).interval
    return "supported" if lo > min_share else "contradicted" if hi < min_share else "inconclusive"


def _fault_one(claim: Claim, facts: Facts, platform: str, workload: str) -> Outcome:
    pred, scenarios = claim.predicate, claim.needs.fault_scenarios()
    scenario = " or ".join(scenarios)
    found = facts.find(platform, workload, claim.needs.deployment, claim.needs.replicas)
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
    windows = _windows(claim, done)
    held_in = {w: sum(_held(claim, o, w) for o in done) for w in windows}
    held = min(held_in.values())  # the share the verdict reports: the least favourable window's
    est = share(held, len(done))
    lo, hi = est.interval
    by_window = (
        "; held per window choice: " + ", ".join(f"{w} {k} of {len(done)}" for w, k in held_in.items())
        if len(windows) > 1
        else ""
    )
    ev = (
        f"{platform}, {scenario} ({workload}, {len(done)} experiments in {len(runs)} run(s)): "
        + "; ".join(_figures(claim, done, windows))
        + f"; the claim held in {held} of {len(done)} (95% [{lo:.2f}, {hi:.2f}], {BINOMIAL}; "
        f"claimed in more than {min_share:.0%}){by_window}{measured_on(found.record)}"
    )
    stats = {
        "n": len(done),
        "statistic": "share of experiments in which the claim held"
        + (f" (the least of {len(windows)} window choices; decided only where all agree)" if by_window else ""),
        "value": est.value,
        "interval": est.interval,
        "interval_method": BINOMIAL,
        "threshold": min_share,
        "threshold_source": getattr(pred, "source", None),
        "conditions": condition_fields(found.record),
    }
    return _verdict(Outcome("inconclusive", ev, runs, stats=stats), found, held_in, len(done), min_share, facts)


def _verdict(out: Outcome, found: Any, held_in: dict[str, int], n: int, min_share: float, facts: Facts) -> Outcome:
    """Decided only on a production-shaped stack, and where every window choice gives the same verdict."""
    platform, workload = found.record.platform, found.record.workload.name
    verdicts = {w: _decided(k, n, min_share) for w, k in held_in.items()}
    if found.dev:
        out.evidence += dev_note(platform, found.record)
        out.stats["decides"] = f"experiments on a production-shaped {platform} stack"
    elif len(set(verdicts.values())) > 1 or len({k * 2 >= n for k in held_in.values()}) > 1:
        out.stats["decides"] = (
            "window choices that agree (they do not: "
            + ", ".join(f"{w} held {k} of {n}, {verdicts[w]}" for w, k in held_in.items())
            + "); more experiments do not settle a disagreement of the windows"
        )
    elif (only := next(iter(verdicts.values()))) != "inconclusive":
        out.verdict = only
    else:
        held = min(held_in.values())
        more = experiments_to_decide(held, n, min_share)
        out.stats["decides"] = (
            f"{more} more experiment(s) coming out as most have: {facts.command(platform, workload, found.record)}"
            if more is not None
            else "more experiments"
        )
    return out


def _figures(claim: Claim, done: list[Any], windows: list[str]) -> list[str]:
    """The expected figures over all experiments (under each window choice), and what the platform did."""
    pred, parts = claim.predicate, []
    for e in pred.expect:
        metric = METRICS[e.metric]
        shown = [_shown(metric, e.metric, done, w) for w in windows]
        where = ", ".join(f"{w} {v}" for w, v in zip(windows, shown)) if len(windows) > 1 else shown[0]
        parts.append(f"{metric.label} {where} (claimed {e.op} {metric.show(e.value)} in each)")
    if pred.behaviours:
        seen = [o.behaviour for o in done]
        parts.append(
            f"what it did: {', '.join(f'{b} x{seen.count(b)}' for b in dict.fromkeys(seen))} "
            f"(claimed {' or '.join(pred.behaviours)})"
        )
    return parts + _times(done)


def _shown(metric: Any, name: str, done: list[Any], window: str) -> str:
    """The median over the experiments of a figure in one window (of an even number: the mean of the
    middle two), or the metric's own total over all of them."""
    if name != WINDOWED:
        value = metric.of_outcomes(done)
        return f"{metric.show(value)} in all" if value is not None else "not recorded"
    values = [v for o in done if (v := _value(name, o, window)) is not None]
    return f"median {metric.show(statistics.median(values))}" if values else "not recorded"


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
