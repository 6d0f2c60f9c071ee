"""The fault campaign behind `bench faults` and `make faults` (issue 10): every fault workload on every
platform that runs natively here, each on a stack variant that has the service the fault targets,
then the fault table in the terminal.

Derived from the stacks folder and the workloads folder: a new platform, variant or fault workload
joins without an edit here. A cell that cannot run (no variant of the stack has a database, say) is
listed with the reason instead of being run to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rich.table import Table

from harness.analysis.fault_table import fault_report_context
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted
from harness.model.fault_record import FAULT_MEASURES
from harness.model.record import RunRecord, load_record
from harness.model.registry import get as get_platform
from harness.model.spec import FaultTarget, Workload
from harness.stack import definition
from harness.stack.definition import ServiceDef, StackDef
from harness.store.cells import collect
from harness.store.results import iter_runs


@dataclass(frozen=True)
class FaultCell:
    platform: str
    workload: str
    variant: str | None  # None: the stack's default variant
    skipped: str | None = None  # why the cell cannot run here

    @property
    def label(self) -> str:
        return f"{self.platform}/{self.workload}" + (f" --variant {self.variant}" if self.variant else "")


def fault_workloads(names: list[str] | None = None) -> list[Workload]:
    """The named workloads (each must have a fault block), or every workload that has one."""
    if names:
        loaded = [spec.load(n) for n in names]
        plain = [w.name for w in loaded if w.fault is None]
        if plain:
            raise BenchError(
                f"not a fault workload: {', '.join(plain)} (fault workloads: "
                f"{', '.join(w.name for w in fault_workloads())})"
            )
        return loaded
    return [w for w in (spec.load(n) for n in spec.available()) if w.fault is not None]


def _role(sdef: ServiceDef) -> str:
    return "database" if sdef.builtin == "postgres" else sdef.role


def _has_target(defn: StackDef, variant: str, target: FaultTarget) -> bool:
    services = [s for s in defn.services if s.kind == "service" and (s.variants is None or variant in s.variants)]
    if target.service is not None:
        return any(s.name == target.service for s in services)
    return any(_role(s) == target.role for s in services)


def variant_for(defn: StackDef, target: FaultTarget) -> str | None:
    """The stack's default variant when it has the fault's target, else the first variant that has
    it; BenchError when none has. Workers come from the adapter, so every variant has one."""
    default = defn.default_variant()
    if target.role == "worker":
        return default
    for variant in [default, *(v for v in defn.variants if v != default)]:
        if _has_target(defn, variant, target):
            return variant
    what = f"service {target.service!r}" if target.service else f"{target.role} service"
    raise BenchError(
        f"no variant of {defn.platform}'s native stack has a {what} (variants: {', '.join(defn.variants)})"
    )


def _harness_workers_needed(defn: StackDef, wl: Workload) -> None:
    """A scale-out adds copies of the harness's worker and a partition cuts the harness's workers off;
    a stack whose own services are the workers (Airflow's scheduler with its LocalExecutor) has neither."""
    own = [s.name for s in defn.services if s.role == "worker"]
    if wl.fault is not None and wl.fault.action in ("scale-out", "partition") and own:
        raise BenchError(
            f"{defn.platform}'s workers are services of its stack ({', '.join(own)}), "
            f"not the harness's: a {wl.fault.action} has no harness worker to act on"
        )


def plan(platforms: list[str], workloads: list[Workload]) -> list[FaultCell]:
    """Workload by workload, so a campaign stopped early has each scenario on every platform so far."""
    cells = []
    for wl in workloads:
        assert wl.fault is not None
        for platform in platforms:
            defn = definition.load(platform)
            try:
                _harness_workers_needed(defn, wl)
                variant = variant_for(defn, wl.fault.target)
            except BenchError as err:
                cells.append(FaultCell(platform, wl.name, None, skipped=str(err)))
                continue
            cells.append(FaultCell(platform, wl.name, None if variant == defn.default_variant() else variant))
    return cells


def already_done(cell: FaultCell, results: Path) -> Path | None:
    """A complete native run of this cell (the workload as it is now, not an older version of it, and
    measured by a harness that measures all a fault outcome holds now) under `results`, if any."""
    found = cell_runs(cell.platform, cell.workload, cell.variant, complete_runs(results, cell.platform))
    return found[0][0] if found else None


def complete_runs(results: Path, platform: str | None = None) -> list[tuple[Path, RunRecord]]:
    """Every complete run under `results` (of `platform` only, if named), read once: a campaign matches
    each of its cells against them. An unreadable run.json is left out (`bench report` names it)."""
    found = []
    for run_dir in iter_runs(results):
        if run_dir.parent.name == "report" or (platform is not None and run_dir.parent.name != platform):
            continue
        try:
            record = load_record(run_dir / "run.json")
        except BenchError:
            continue
        if record.status == "complete":
            found.append((run_dir, record))
    return found


def stack_variant(platform: str, variant: str | None) -> str:
    """The variant a run of the platform records: the named one, the stack's default, or "in-process"
    for a platform without a stack (null)."""
    if get_platform(platform).in_process:
        return "in-process"
    return variant or definition.load(platform).default_variant()


def cell_runs(
    platform: str, workload: str, variant: str | None, runs: list[tuple[Path, RunRecord]]
) -> list[tuple[Path, RunRecord]]:
    """The runs among `runs` that count for one cell: native, of the variant, of the workload as it is
    now (its hash), with every fault outcome measured as this harness measures one."""
    recorded_variant = stack_variant(platform, variant)
    digest = spec.load(workload).digest()
    return [
        (run_dir, record)
        for run_dir, record in runs
        if record.platform == platform
        and record.workload.name == workload
        and record.workload.hash == digest
        and record.deployment.backend == "native"
        and record.deployment.variant == recorded_variant
        and all(r.fault.measures >= FAULT_MEASURES for r in record.repetitions if r.fault is not None)
    ]


def table_rows(results: Path) -> list[dict]:
    """The fault table's rows as the report builds them (latest complete run per cell)."""
    cells, _ = collect(results)
    return fault_report_context({k: c for k, c in cells.items() if k[2].startswith("fault-")})["rows"]


def run_cells(
    cells: list[FaultCell],
    run_one: Callable[[FaultCell], Path],
    say: Callable[[str], None],
    results: Path,
    skip_done: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """Run every cell that can run (and, with skip_done, has no complete run yet); the labels of
    those that did not complete. A cell's failure is one line; Ctrl-C ends the campaign. A dry run
    says what would run and runs nothing."""
    failures = []
    for n, cell in enumerate(cells, 1):
        head = f"[{n}/{len(cells)}] {cell.label}"
        if cell.skipped:
            say(f"{head}: not run: {cell.skipped}")
            continue
        if skip_done and (done := already_done(cell, results)):
            say(f"{head}: already done -> {done}")
            continue
        if dry_run:
            say(f"{head}: would run")
            continue
        try:
            path = run_one(cell)
        except RunInterrupted:
            raise
        except BenchError as err:
            say(f"{head} failed: {err}")
            failures.append(cell.label)
            continue
        status = load_record(path / "run.json").status
        say(f"{head}: {status} -> {path}")
        if status != "complete":
            failures.append(cell.label)
    return failures


TABLE_COLUMNS = [
    ("platform", "platform"),
    ("stack", "stack"),
    ("scenario", "scenario"),
    ("service", "service"),
    ("undo s", "undo_after_s"),
    ("lost", "lost"),
    ("dup.", "duplicated"),
    ("failed/unfinished", "runs"),
    ("recovery s", "recovery_s"),
    ("to end s", "to_end_s"),
    ("behaviour", "behaviour"),
    ("submitted during", "submitted_during"),
]


def table(rows: list[dict]) -> Table:
    """The fault table for the terminal: the report's columns that fit a line."""
    out = Table(title="faults (latest complete run per platform, stack and scenario)")
    for header, _ in TABLE_COLUMNS:
        out.add_column(header)
    for row in rows:
        row = {
            **row,
            "lost": f"{row['lost']}/{row['expected']}",
            "runs": f"{row['runs_failed']}/{row['runs_unfinished']}",
        }
        out.add_row(*(_cell(row[key]) for _, key in TABLE_COLUMNS))
    return out


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) else str(value)
