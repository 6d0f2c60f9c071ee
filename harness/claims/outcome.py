"""A verdict as an evaluator returns it, and the pieces every evaluator shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.claims.evidence import Evidence
from harness.claims.facts import Facts, condition_fields
from harness.claims.metrics import METRICS, Metric
from harness.claims.model import Claim
from harness.claims.stats import MIN_RUNS, Estimate, runs_needed
from harness.model.record import RunRecord

SEVERITY = ("contradicted", "inconclusive", "not measured", "supported")  # how per-platform verdicts combine


@dataclass
class Outcome:
    verdict: str
    evidence: str
    records: list[RunRecord] = field(default_factory=list)
    missing: str = ""  # not measured: what is missing and how to measure it
    stats: dict[str, Any] = field(default_factory=dict)  # Evidence's fields beyond its text
    parts: list[Evidence] = field(default_factory=list)

    def as_evidence(self) -> Evidence:
        return Evidence(text=self.evidence, parts=self.parts, **self.stats)


def not_measured(missing: str) -> Outcome:
    """Nothing measured decides: the evidence is empty, `missing` says what to run."""
    return Outcome("not measured", "", missing=missing)


def combine(outcomes: list[Outcome]) -> Outcome:
    """Several platforms' verdicts as one: the most severe, each platform's evidence a part."""
    if len(outcomes) == 1:
        return outcomes[0]
    verdict = min((o.verdict for o in outcomes), key=SEVERITY.index)
    parts = [o.as_evidence() for o in outcomes if o.evidence]
    ns = [p.n for p in parts if p.n is not None]
    stats = {"n": min(ns) if ns else None, "decides": "; ".join(p.decides for p in parts if p.decides)}
    return Outcome(
        verdict,
        " | ".join(o.evidence for o in outcomes if o.evidence),
        [r for o in outcomes for r in o.records],
        "; ".join(o.missing for o in outcomes if o.missing),
        stats=stats,
        parts=parts,
    )


def also(claim: Claim, record: RunRecord) -> str:
    """The claim's context figures from the same run ('; engine queued -> started p50 7.471 ms')."""
    parts = []
    for name in claim.also:
        fig = METRICS[name].read(record)
        if fig is not None:
            parts.append(f"{METRICS[name].label} {METRICS[name].describe(fig)}")
    return "".join(f"; {p}" for p in parts)


def dev_note(platform: str, record: RunRecord) -> str:
    return (
        f"; but {platform} was measured only as '{record.deployment.description or record.deployment.kind}' "
        f"({record.deployment.kind}), not the deployment the claim describes"
    )


def over_runs(metric: Metric, est: Estimate) -> str:
    """'; over 3 runs: median 1.2 ms, 95% [1.1, 1.4] (bootstrap ...)' or '; 1 run'."""
    if metric.exact:
        return f"; an exact count, seen in {est.n} run{'s' if est.n > 1 else ''}"
    if est.n < 2:
        return f"; {est.n} run (a fresh stack each; {MIN_RUNS} decide)"
    text = f"; over {est.n} runs: median {metric.show(est.value)}"
    if est.interval is not None:
        lo, hi = est.interval
        text += f", 95% [{metric.show(lo)}, {metric.show(hi)}]"
    return text


def more_runs(facts: Facts, record: RunRecord, workload: str, n: int) -> str:
    need, platform = runs_needed(n), record.platform
    runs = f"run{'s' if need > 1 else ''}"
    return f"needs {need} more {runs} of {platform} ({workload}): {facts.command(platform, workload, record)}"


def estimate_fields(metric: Metric, est: Estimate, record: RunRecord) -> dict[str, Any]:
    return {
        "n": est.n,
        "statistic": f"median over runs of {metric.label}" + (f" ({metric.unit})" if metric.unit else ""),
        "value": est.value,
        "interval": est.interval,
        "interval_method": est.method,
        "conditions": condition_fields(record) | assumed(metric),
    }


def assumed(metric: Metric) -> dict[str, str]:
    """A projected figure's assumptions, as a condition it holds under."""
    return {"assumptions": "; ".join(metric.assumes)} if metric.assumes else {}
