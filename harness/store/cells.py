"""The results set read back: the latest complete run of each (platform, stack, workload) as a
Cell, its summary recomputed from the raw samples, and every run that did not complete. The report
and the claims both start from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis import runs as analysis
from harness.analysis.drain import with_drain_windows
from harness.model.errors import BenchError
from harness.model.record import RunRecord, Summary, load_record
from harness.store.results import RunData, iter_runs, load_run


@dataclass
class Cell:
    """The latest complete run of one (platform, stack, workload), its summary recomputed from the
    raw samples (so a change to the analysis applies to old results too)."""

    record: RunRecord
    data: RunData
    # Every complete run of the cell with the same workload definition, newest first (the record
    # above among them), each with its summary recomputed: the independent runs behind a figure.
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def summary(self) -> Summary:
        assert self.record.summary is not None  # set by collect()
        return self.record.summary


@dataclass(frozen=True)
class IncompleteRun:
    platform: str
    workload: str
    run_id: str
    status: str
    error: str


CellKey = tuple[str, str, str]  # (platform, stack label, workload)


def collect(results: Path) -> tuple[dict[CellKey, Cell], list[IncompleteRun]]:
    """Latest complete run per (platform, stack, workload); and every run that did not complete
    (or whose run.json cannot be read: listed with the one-line reason, never a traceback)."""
    latest: dict[CellKey, RunRecord] = {}
    every: dict[CellKey, list[RunRecord]] = {}
    incomplete = []
    for run_dir in iter_runs(results):
        if run_dir.parent.name == "report":
            continue
        try:
            record = load_record(run_dir / "run.json")
        except BenchError as err:
            incomplete.append(IncompleteRun(run_dir.parent.name, "?", run_dir.name, "unreadable", str(err)))
            continue
        if record.status != "complete":
            incomplete.append(
                IncompleteRun(record.platform, record.workload.name, record.run_id, record.status, record.error or "")
            )
            continue
        key = (record.platform, stack_label(record), record.workload.name)
        every.setdefault(key, []).append(record)
        if key not in latest or record.started_at > latest[key].started_at:
            latest[key] = record
    cells = {}
    for key, record in latest.items():
        data = load_run(results / record.platform / record.run_id)
        chosen = _summarized(record, data)
        others = sorted(  # the same workload as run (its hash: file and overrides; fields added since leave it alone)
            (r for r in every[key] if r.run_id != record.run_id and r.workload.hash == record.workload.hash),
            key=lambda r: r.started_at,
            reverse=True,
        )
        runs = [chosen, *(_summarized(r, load_run(results / r.platform / r.run_id)) for r in others)]
        cells[key] = Cell(chosen, data, runs)
    return cells, incomplete


def _summarized(record: RunRecord, data: RunData) -> RunRecord:
    summary = analysis.summarize_tables(data.record, data.tasks, data.workflows, data.resources)
    return with_drain_windows(record, data.tasks, data.workflows).model_copy(update={"summary": summary})


def stack_label(record: RunRecord) -> str:
    """How a run's stack was brought up, from its own record: "native <variant>", "compose",
    "external" or "in-process"."""
    shape = record.deployment
    if shape.kind == "in-process":
        return "in-process"
    return f"native {shape.variant}" if shape.backend == "native" else shape.backend


class ClaimSeries(dict):
    """(platform, workload) -> every run behind the run claim_cells chose, newest first (the chosen one
    first); and `variants`: the runs of every stack the (platform, workload) was measured on, one list
    per cell, newest first. Claims about how a platform is deployed are judged on a variant the
    vendor documents for production, claims about failover on one with replicas (claims/facts.py)."""

    def __init__(self, chosen: dict, variants: dict[tuple[str, str], list[list[RunRecord]]]):
        super().__init__(chosen)
        self.variants = variants


def claim_series(cells: dict[CellKey, Cell]) -> ClaimSeries:
    """For claims: every run behind the run claim_cells chose, newest first (the chosen one first)."""
    chosen = claim_cells(cells)
    variants: dict[tuple[str, str], list[list[RunRecord]]] = {}
    for (platform, _, workload), cell in cells.items():
        variants.setdefault((platform, workload), []).append(cell.runs or [cell.record])
    return ClaimSeries(
        {
            key: next(c.runs or [c.record] for (p, _, w), c in cells.items() if (p, w) == key and c.record is r)
            for key, r in chosen.items()
        },
        variants,
    )


def claim_cells(cells: dict[CellKey, Cell]) -> dict[tuple[str, str], RunRecord]:
    """For claims: one run per (platform, workload), preferring the stack's default variant as the
    run itself recorded it (never today's stack files), then stacks without variants, then the latest."""
    rank = {True: 2, None: 1, False: 0}
    chosen: dict[tuple[str, str], RunRecord] = {}
    for (platform, _, workload), cell in cells.items():
        r = cell.record
        best = chosen.get((platform, workload))
        if best is None or (
            (rank[r.deployment.default_variant], r.started_at)
            > (rank[best.deployment.default_variant], best.started_at)
        ):
            chosen[(platform, workload)] = r
    return chosen
