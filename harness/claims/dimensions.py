"""A ranking judged on several figures of one thing (issue 21, item 5: setup complexity from what a
user does: the services and the keys the vendor's guide has them start and set, the install size,
start -> ready): the claimed order is ranked on each, and stands only where every one agrees."""

from __future__ import annotations

from typing import Callable

from harness.claims.facts import Facts
from harness.claims.metrics import METRICS
from harness.claims.model import Claim, ClaimsFile
from harness.claims.outcome import Outcome

DECIDED = ("supported", "contradicted")
Rank = Callable[[Claim, Facts, ClaimsFile], Outcome]


def on_each_dimension(claim: Claim, facts: Facts, parsed: ClaimsFile, rank: Rank) -> Outcome:
    """The ranking on needs.measures' metric and on each of predicate.dimensions, as one verdict."""
    pred = claim.predicate
    base = claim.needs.measures[0]
    metrics = [base.metric, *(d for d in pred.dimensions if d != base.metric)]
    each = {m: rank(_on(claim, m), facts, parsed) for m in metrics}
    first = each[metrics[0]]
    verdicts = {m: o.verdict for m, o in each.items()}
    measured = [v for v in verdicts.values() if v != "not measured"]
    if not measured:
        return first
    agreed = measured[0] if len(set(measured)) == 1 and len(measured) == len(verdicts) else None
    shown = "; ".join(f"[{METRICS[m].label}: {o.verdict}] {o.evidence}" for m, o in each.items())
    out = Outcome(
        agreed or "inconclusive",
        shown,
        [r for o in each.values() for r in o.records],
        "; ".join(o.missing for o in each.values() if o.missing),
        stats=first.stats | {"statistic": "the claimed order on each figure; decided only where all agree"},
        parts=[p for o in each.values() for p in o.parts],
    )
    if agreed is None:
        out.stats["decides"] = _what_decides(each, verdicts)
    return out


def _on(claim: Claim, metric: str) -> Claim:
    """The claim with its order judged on `metric` alone (same workload, no further dimensions)."""
    measure = claim.needs.measures[0].model_copy(update={"metric": metric})
    needs = claim.needs.model_copy(update={"measures": [measure]})
    return claim.model_copy(update={"needs": needs, "predicate": claim.predicate.model_copy(update={"dimensions": []})})


def _what_decides(each: dict[str, Outcome], verdicts: dict[str, str]) -> str:
    decided = {v for v in verdicts.values() if v in DECIDED}
    if len(decided) > 1:
        return "the figures disagree: " + ", ".join(f"{METRICS[m].label} {v}" for m, v in verdicts.items())
    open_ = [f"{METRICS[m].label}: {o.stats.get('decides') or o.missing or o.verdict}" for m, o in each.items()]
    agreed = f" ({next(iter(decided))})" if decided else ""
    return f"every decided figure agrees{agreed}; still open: " + "; ".join(
        x for x, v in zip(open_, verdicts.values()) if v not in DECIDED
    )
