"""`bench evidence`: the runs the claims need for their verdicts (harness/campaign/evidence.py), with a
progress bar weighted by each run's estimated duration. Wiring only: the plan and the loop are the campaign's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness import platforms as registry
from harness.cli import doctor as doctor_mod
from harness.cli.common import _RichProgress, app, console, out, render_report
from harness.model import spec
from harness.model.errors import BenchError
from harness.model.paths import RESULTS_DIR

if TYPE_CHECKING:  # the campaign module is imported when the command runs, not when `bench` starts
    from harness.campaign.evidence import EvidenceCell, EvidencePlan

# The bar's speed is the whole campaign's (estimated seconds done per second), not rich's last 30 s:
# runs end minutes apart, so a short window would have no speed to go on most of the time.
CAMPAIGN_SPEED_WINDOW_S = 30 * 24 * 3600


@app.command()
def evidence(
    platforms: list[str] = typer.Option([], "--platform", help="default: every platform that runs natively here"),
    workloads: list[str] = typer.Option([], "--workload", help="default: every workload a claim needs"),
    skip_done: bool = typer.Option(True, help="count the runs already under results/ (resume); off: all again"),
    dry_run: bool = typer.Option(False, help="print the plan and its estimated cost, run nothing"),
    min_runs: int = typer.Option(5, min=1, help="independent runs per cell of a continuous figure"),
    min_experiments: int = typer.Option(3, min=1, help="fault experiments per fault cell"),
    all_faults: bool = typer.Option(False, help="also every fault workload on every native platform (the fault table)"),
    claims_file: Optional[Path] = typer.Option(None, "--claims-file", help="default: claims/claims.yaml"),
):
    """Run every cell a measurable claim needs until it has MIN_RUNS complete runs (a fault cell:
    MIN_EXPERIMENTS experiments), on every platform that runs natively here; then the report."""
    from harness.campaign import evidence as ev  # lazy: the claims and the driver (seconds)
    from harness.claims import model as claims_model  # lazy: pydantic models of the claims

    for name in platforms:
        registry.get(name)
    for name in workloads:
        spec.load(name)
    claims = claims_model.load(claims_file)
    runnable = [p for p in registry.platforms() if doctor_mod.runnable(p, "native")]
    matrix = [p for p in registry.orchestrators() if p in runnable] if all_faults else None
    needs = ev.Needs(min_runs, min_experiments, skip_done)
    planned = ev.plan(claims, runnable, RESULTS_DIR, needs, platforms or None, workloads or None, matrix)
    _check_named(planned, platforms, workloads)
    say = lambda line: out.print(line, soft_wrap=True, markup=False, highlight=False)  # noqa: E731
    if dry_run or not planned.runs_needed:
        for line in ev.plan_lines(planned):
            say(line)
        if not dry_run:
            say("nothing left to run: every cell has the evidence it needs")
        return
    say(f"evidence: {planned.runs_needed} run(s), estimated {ev.hours(planned.total_s)} (`--dry-run` for the plan)")
    with _campaign_progress() as bar:
        overall = bar.add_task("evidence", total=planned.total_s)
        bar.advance(overall, 0)  # the first sample at the start, so the first run's speed counts from here
        failures = ev.run_plan(
            planned, lambda cell: _run_cell(bar, cell), say, lambda seconds: bar.advance(overall, seconds)
        )
    render_report(RESULTS_DIR)
    if failures:
        raise BenchError(f"{len(failures)} run(s) did not complete: {', '.join(sorted(set(failures)))}")


def _check_named(planned: EvidencePlan, platforms: list[str], workloads: list[str]) -> None:
    """A platform or workload named on the command line that the plan has no cell for: one line saying why."""
    for name in platforms:
        if name in planned.left_out:
            raise BenchError(f"{name}: {planned.left_out[name]}")
        if not any(c.platform == name for c in planned.cells):
            with_workloads = f" with {', '.join(workloads)}" if workloads else ""
            raise BenchError(f"no claim needs a cell of {name}{with_workloads}")
    for name in workloads:
        if not any(c.workload == name for c in planned.cells):
            raise BenchError(f"no claim needs {name}" + (f" on {', '.join(platforms)}" if platforms else " here"))


def _run_cell(bar: Progress, cell: EvidenceCell) -> Path:
    """One run of the cell on the campaign's own bar (rich shows one live display at a time)."""
    from harness.run.driver import RunOptions, run  # lazy: pandas, psutil, samplers (seconds)

    phases = _RichProgress(bar, cell.label)
    try:
        opts = RunOptions(cell.platform, spec.load(cell.workload), variant=cell.variant, backend="native")
        return run(opts, phases)
    finally:
        if phases.task is not None:
            bar.remove_task(phases.task)


def _campaign_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        speed_estimate_period=CAMPAIGN_SPEED_WINDOW_S,
    )
