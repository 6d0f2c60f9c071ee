"""`bench claims`: every claim evaluated against a results folder, and the verdicts as one JSON-able
document (harness/cli/claims_view.py renders it; harness/cli/claims_cache.py keeps it between runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.claims import ClaimResult, counts, evaluate, load
from harness.model.errors import BenchError
from harness.store.cells import claim_cells, claim_series, collect


def results_for(results: Path, claims_file: Path | None = None) -> list[ClaimResult]:
    """Every claim's verdict over the latest complete run per (platform, workload) in `results`, the
    default stack variant first, as the report chooses them; runs that did not complete are named."""
    parsed = load(claims_file)  # a broken claims file fails before the results are read
    if not results.is_dir():
        raise BenchError(f"{results}: no such results folder")
    cells, incomplete = collect(results)
    return evaluate(claim_cells(cells), incomplete, parsed, claim_series(cells))


def document(results: list[ClaimResult]) -> dict[str, Any]:
    """The verdicts as plain data: `counts` and `claims` as `bench claims --format json` prints them,
    the summary line, the first error, and each claim's n and interval in words (`brief`)."""
    c = counts(results)
    failed = errors(results)
    # through JSON once, so a cached copy read back is this very value (tuples as lists, NaN kept)
    doc = json.loads(json.dumps({"counts": c.__dict__, "claims": [r.model_dump() for r in results]}))
    for row, r in zip(doc["claims"], results):
        row["brief"] = r.evidence.brief()
    return {**doc, "summary": c.line(), "error": str(failed) if failed else None}


def errors(results: list[ClaimResult]) -> BenchError | None:
    """One line naming the first claim that could not be evaluated (and how many more)."""
    failed = [r for r in results if r.verdict == "error"]
    if not failed:
        return None
    more = f" (and {len(failed) - 1} more claims)" if len(failed) > 1 else ""
    return BenchError(f"claim {failed[0].id} could not be evaluated: {failed[0].evidence.text}{more}")
