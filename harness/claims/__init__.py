"""The seed document's claims (claims/claims.yaml) and their verdicts against the results.

Verdicts: supported, contradicted, inconclusive (measured, but the data cannot decide), not measured
(what is missing and the command that measures it), not measurable (no measurement can speak to the
claim: the reason), and error (the claim could not be evaluated: a bug, named by `bench claims`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, ConfigDict

from harness.claims.evaluators import EVALUATORS, Outcome, describe
from harness.claims.evidence import Evidence
from harness.claims.facts import Facts, Incomplete, seed_platforms
from harness.claims.model import CLAIMS_FILE, Claim, ClaimsFile, load, parse
from harness.model.record import RunRecord

__all__ = [
    "CLAIMS",
    "CLAIMS_FILE",
    "Claim",
    "ClaimResult",
    "ClaimsFile",
    "Counts",
    "Facts",
    "counts",
    "evaluate",
    "load",
    "parse",
    "seed_platforms",
    "VERDICTS",
]

VERDICTS = ("supported", "contradicted", "inconclusive", "not measured", "not measurable", "error")
DECIDED = ("supported", "contradicted", "inconclusive")  # measured: the data was looked at


class ClaimResult(BaseModel):
    """One claim with its verdict, as the report and `bench claims` show it."""

    model_config = ConfigDict(frozen=True)

    id: str
    platform: str  # the claim's platform(s), comma-separated
    platforms: list[str]
    section: str
    quote: str
    kind: str  # the predicate's kind
    measurable: bool
    verdict: str
    evidence: Evidence  # the figure, its n, 95% interval, threshold and its source; `text` in words
    conditions: str = ""  # what the figures hold under: cores, stack, workers
    runs: list[str] = []  # platform/run-id of every run the verdict rests on
    machines: list[str] = []
    missing: str = ""  # what is not measured (all of it, or a part): what to run, the command


@dataclass(frozen=True)
class Counts:
    document: int  # claims of the seed document in the claims file
    measurable: int
    with_verdict: int  # measurable claims with supported, contradicted or inconclusive
    by_verdict: dict[str, int]

    def line(self) -> str:
        detail = ", ".join(f"{n} {v}" for v, n in self.by_verdict.items() if n)
        return (
            f"{self.document} claims in the document, {self.measurable} measurable, "
            f"{self.with_verdict} with a verdict ({detail})"
        )


def evaluate(
    cells: dict[tuple[str, str], RunRecord],
    incomplete: Iterable[Incomplete] = (),
    claims_file: ClaimsFile | Path | None = None,
    series: dict[tuple[str, str], list[RunRecord]] | None = None,
) -> list[ClaimResult]:
    """Every claim's verdict over one run per (platform, workload), each carrying its summary, and
    `series`: every independent run behind each of those (default: that run alone).
    `incomplete`: runs that did not complete, named when a claim is not measured because of them."""
    parsed = claims_file if isinstance(claims_file, ClaimsFile) else load(claims_file)
    facts = Facts(cells, incomplete, parsed.planned_platforms, parsed.planned_workloads, series)
    return [_result(claim, _outcome(claim, facts, parsed)) for claim in parsed.claims]


def _outcome(claim: Claim, facts: Facts, parsed: ClaimsFile) -> Outcome:
    try:
        return EVALUATORS[claim.kind](claim, facts, parsed)
    except Exception as err:  # noqa: BLE001 - any bug in one evaluator is reported against its claim, not a traceback
        first = (str(err).strip().splitlines() or [""])[0]
        return Outcome("error", f"{type(err).__name__}: {first}")


def _result(claim: Claim, outcome: Outcome) -> ClaimResult:
    conditions, runs, machines = describe(outcome)
    needs = claim.needs
    extra = [
        f"fault scenario {' and '.join(needs.fault_scenarios())}" if needs.fault else "",
        f"load step: {needs.load_step}"
        if needs.load_step and any(getattr(r, "load", None) for r in outcome.records)
        else "",
        "a claim about a deployment: production-shaped stacks only" if needs.deployment == "production" else "",
        _equal_rate(outcome),
    ]
    if conditions:
        conditions = "; ".join([conditions, *filter(None, extra)])
    return ClaimResult(
        id=claim.id,
        platform=claim.subject,
        platforms=claim.platforms,
        section=claim.section,
        quote=claim.quote,
        kind=claim.kind,
        measurable=claim.measurable,
        verdict=outcome.verdict,
        evidence=outcome.as_evidence(),
        conditions=conditions,
        runs=runs,
        machines=machines,
        missing=outcome.missing,
    )


def _equal_rate(outcome: Outcome) -> str:
    """The offered rate a ranking also compared every platform at (harness/claims/equal_rate.py)."""
    rate = (outcome.stats.get("conditions") or {}).get("equal_rate")
    return f"equal offered rate {rate.split(':')[0]}" if rate else ""


def counts(results: list[ClaimResult]) -> Counts:
    by = {v: sum(1 for r in results if r.verdict == v) for v in VERDICTS}
    return Counts(
        document=len(results),
        measurable=sum(1 for r in results if r.measurable),
        with_verdict=sum(1 for r in results if r.verdict in DECIDED),
        by_verdict=by,
    )


def __getattr__(attr: str):  # CLAIMS: the claims file's rows, read on every access (a test may edit it)
    if attr == "CLAIMS":
        return load().claims
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
