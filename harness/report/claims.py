"""The claims table as the report shows it: every verdict `harness.claims.evaluate` returns, with its
evidence, the conditions it holds under and links down to the runs it rests on.

`evaluate` may return plain results (id, platform, quote, verdict, evidence: str) or richer verdict
objects (platforms, section, conditions, runs, evidence items each naming its runs); both are read
here, by attribute, so the report works with either."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from harness.model.record import RunRecord

if TYPE_CHECKING:
    pass

DECIDED = ("supported", "contradicted", "inconclusive")
NOT_MEASURABLE = ("not measurable", "not testable")
# Words in an evidence line that name the workload it was measured with, where the claim does not say.
WORKLOAD_WORDS = {"idle": "idle-60s", "services": "idle-60s"}


@dataclass
class ClaimView:
    id: str
    platforms: list[str]
    quote: str
    section: str
    verdict: str
    evidence: str
    conditions: str
    measurable: bool
    runs: list[RunRecord] = field(default_factory=list)
    stats: str = ""  # n and the 95% interval behind the verdict ("n=5, 95% [1.2, 3.4]")
    decides: str = ""  # inconclusive: what would decide it

    @property
    def platform(self) -> str:
        return ", ".join(self.platforms)


@dataclass(frozen=True)
class ClaimCounts:
    total: int
    not_measurable: int
    measurable: int
    decided: int  # measurable claims with a verdict: supported, contradicted or inconclusive
    not_measured: int


def _text(value: Any) -> str:
    """A field that may be a string, a list of strings or of evidence objects, or a model."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "; ".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    for attr in ("text", "summary", "line", "description"):
        if isinstance(getattr(value, attr, None), str):
            return getattr(value, attr)
    return str(value)


def _platforms(result: Any) -> list[str]:
    many = getattr(result, "platforms", None)
    if many:
        return [str(p) for p in many]
    one = getattr(result, "platform", "") or ""
    return [p.strip() for p in str(one).split(",") if p.strip()]


def _run_ids(result: Any) -> list[str]:
    """Run ids the verdict names itself: `runs` on the result or on its evidence items."""
    found: list[Any] = list(getattr(result, "runs", None) or [])
    evidence = getattr(result, "evidence", None)
    if isinstance(evidence, (list, tuple)):
        for item in evidence:
            found += list(getattr(item, "runs", None) or [])
            if getattr(item, "run_id", None):
                found.append(item.run_id)
    ids = []
    for r in found:
        rid = getattr(r, "run_id", None) or (Path(r).name if isinstance(r, (str, Path)) else None)
        if rid and rid not in ids:
            ids.append(rid)
    return ids


def _workloads(result: Any, evidence: str, known: Iterable[str]) -> set[str]:
    named = getattr(result, "workloads", None) or getattr(result, "workload", None)
    if named:
        return {named} if isinstance(named, str) else set(named)
    found = {w for w in known if w in evidence}
    found |= {w for word, w in WORKLOAD_WORDS.items() if word in evidence}
    return found


def views(results: list[Any], chosen: dict[tuple[str, str], RunRecord]) -> list[ClaimView]:
    """One view per verdict; `chosen` is the run per (platform, workload) the claims were judged on."""
    by_id = {r.run_id: r for r in chosen.values()}
    workloads = {w for _, w in chosen}
    out = []
    for res in results:
        evidence = _text(getattr(res, "evidence", ""))
        missing = _text(getattr(res, "missing", ""))
        verdict = _text(getattr(res, "verdict", ""))
        plats = _platforms(res)
        runs = [by_id[i] for i in _run_ids(res) if i in by_id]
        if not runs:  # the verdict does not name its runs: the platforms' runs of the workloads it names
            wanted = _workloads(res, evidence, workloads)
            runs = [
                r
                for (p, w), r in sorted(chosen.items())
                if w in wanted and (p in plats or "all" in plats or p in evidence)
            ]
        out.append(
            ClaimView(
                id=str(getattr(res, "id", "")),
                platforms=plats,
                quote=_text(getattr(res, "quote", "")),
                section=_text(getattr(res, "section", "")),
                verdict=verdict,
                evidence="; ".join(filter(None, [evidence, missing])),
                conditions=_text(getattr(res, "conditions", "")),
                measurable=getattr(res, "measurable", verdict not in NOT_MEASURABLE),
                runs=runs,
                stats=_brief(getattr(res, "evidence", None)),
                decides=str(getattr(getattr(res, "evidence", None), "decides", "") or ""),
            )
        )
    return out


def counts(claim_views: list[ClaimView]) -> ClaimCounts:
    total = len(claim_views)
    unmeasurable = sum(1 for c in claim_views if not c.measurable)
    decided = sum(1 for c in claim_views if c.verdict in DECIDED)
    return ClaimCounts(total, unmeasurable, total - unmeasurable, decided, total - unmeasurable - decided)


def run_link(record: RunRecord, results: Path, out: Path) -> str:
    """A relative link from the report's folder to the run's run.json."""
    return os.path.relpath(results / record.platform / record.run_id / "run.json", out)


def _brief(evidence: Any) -> str:
    brief = getattr(evidence, "brief", None)
    return brief() if callable(brief) else ""
