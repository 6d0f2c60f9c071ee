"""The evidence campaign behind `bench evidence` and `make evidence` (issue 21, item 6): every cell a
measurable claim needs, repeated until it has enough independent runs for its verdict to be a
statistical statement, on every platform that runs natively here.

Derived, never listed: the cells come from claims/claims.yaml (a claim naming a new workload or
platform adds its cell), what exists from results/ (so a campaign stopped anywhere resumes where it
stopped), the variant and what cannot run from the fault campaign's own rules (harness/campaign/faults.py).

A cell is a (platform, workload) on one stack variant. What counts toward it is what the claims count:
a complete native run of the workload as it is now (its hash) on that variant; for a fault workload,
each of its measured experiments that ran as designed (harness/claims/metrics.fault_outcomes), since a
fault verdict is a share of experiments, not of runs.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from harness.campaign import faults as fc
from harness.claims.metrics import fault_outcomes
from harness.claims.model import Claim, ClaimsFile
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted
from harness.model.record import RunRecord, component_of, load_record
from harness.model.registry import get as get_platform
from harness.model.registry import platforms as registered
from harness.model.spec import Workload
from harness.stack import definition

MIN_RUNS = 5  # issue 21: fewer than 5 runs of a continuous figure is inconclusive
MIN_EXPERIMENTS = 3  # issue 21: at least 3 experiments per fault cell
# A run's duration when neither this cell nor the platform's other runs of the workload have one:
# the idle window plus a stack's start and stop; a few minutes for a chain or fan-out; a sweep's
# twelve 40 s steps with their drains; a fault workload's warmup and its measured repetitions.
SHAPE_DEFAULT_S = {"idle": 120.0, "chain": 300.0, "fanout": 300.0, "sweep": 600.0, "fault": 300.0}
Unit = Literal["runs", "experiments"]
FAULT_TABLE = "fault table"  # what needs a fault cell no claim names: the report's fault table


@dataclass(frozen=True)
class Needs:
    """How much evidence a cell needs; skip_done False: that much again, whatever exists."""

    min_runs: int = MIN_RUNS
    min_experiments: int = MIN_EXPERIMENTS
    skip_done: bool = True


@dataclass(frozen=True)
class EvidenceCell:
    platform: str
    workload: str
    variant: str | None  # None: the stack's default variant
    claims: tuple[str, ...]  # the claims that need it
    unit: Unit = "runs"
    required: int = MIN_RUNS  # in `unit`
    present: int = 0  # in `unit`, counted under results/
    per_run: int = 1  # units one run adds: 1, or a fault workload's measured repetitions
    run_s: float = 0.0  # estimated duration of one run
    estimated_from: str = ""
    skipped: str | None = None  # why the cell cannot run here

    @property
    def label(self) -> str:
        return f"{self.platform}/{self.workload}" + (f" --variant {self.variant}" if self.variant else "")

    @property
    def runs_needed(self) -> int:
        if self.skipped:
            return 0
        return math.ceil(max(0, self.required - self.present) / self.per_run)

    @property
    def estimated_s(self) -> float:
        return self.runs_needed * self.run_s


@dataclass(frozen=True)
class EvidencePlan:
    cells: list[EvidenceCell]
    left_out: dict[str, str] = field(default_factory=dict)  # platform a claim names -> why it is not planned

    @property
    def runs_needed(self) -> int:
        return sum(c.runs_needed for c in self.cells)

    @property
    def total_s(self) -> float:
        return sum(c.estimated_s for c in self.cells)

    def schedule(self) -> list[tuple[EvidenceCell, int]]:
        """Every planned run as (cell, its number in the cell), round by round: the first missing run of
        every cell, then the second... A campaign stopped early has added evidence to every cell, and
        the runs of one cell are spread over the campaign rather than taken back to back."""
        rounds = max((c.runs_needed for c in self.cells), default=0)
        return [(c, k) for k in range(1, rounds + 1) for c in self.cells if c.runs_needed >= k]


# -- what the claims need --------------------------------------------------------------------------
def claim_cells(claims: ClaimsFile) -> dict[tuple[str, str], list[str]]:
    """(platform, workload) -> ids of the claims that need it, in the claims file's order.

    A fault claim needs each of its workloads on each platform it is about. A threshold, ranking or
    ratio claim needs its preferred measure (the first: the one that decides where measured) on the
    platforms it is about and those it compares them with (a ranking's levels, a ratio's baseline).
    A capability claim reads an endpoint any run records: it needs no repetitions."""
    needed: dict[tuple[str, str], list[str]] = {}
    for claim in claims.claims:
        for key in _claim_needs(claim):
            ids = needed.setdefault(key, [])
            if claim.id not in ids:
                ids.append(claim.id)
    return needed


def _claim_needs(claim: Claim) -> list[tuple[str, str]]:
    pred, measures = claim.predicate, claim.needs.measures
    if pred.kind == "fault":
        return [(p, m.workload) for m in measures for p in claim.platforms]
    if pred.kind not in ("threshold", "ranking", "ratio") or not measures:
        return []
    compared = list(pred.levels) if pred.kind == "ranking" else [pred.baseline] if pred.kind == "ratio" else []
    named = list(dict.fromkeys([*claim.platforms, *compared]))
    return [(p, measures[0].workload) for p in named]


# -- the plan --------------------------------------------------------------------------------------
def plan(
    claims: ClaimsFile,
    runnable: list[str],
    results: Path,
    needs: Needs = Needs(),
    only_platforms: list[str] | None = None,
    only_workloads: list[str] | None = None,
    fault_platforms: list[str] | None = None,
) -> EvidencePlan:
    """The cells the claims need on the platforms in `runnable` (those that run natively here), each
    with what exists under `results` and what is missing; `only_*` narrow it to named platforms or
    workloads. A platform the claims name that is not runnable is in `left_out` with the reason.
    `fault_platforms`: also every fault workload on each of these (the fault table's whole matrix,
    as `bench faults` runs it), not only the scenarios a claim names."""
    every = claim_cells(claims)
    for wl in fc.fault_workloads() if fault_platforms else []:
        for platform in fault_platforms or []:
            every.setdefault((platform, wl.name), []).append(FAULT_TABLE)
    wanted = {
        key: ids
        for key, ids in every.items()
        if (not only_platforms or key[0] in only_platforms) and (not only_workloads or key[1] in only_workloads)
    }
    left_out = {p: _why_not(p, claims) for p, _ in wanted if p not in runnable}
    runs = fc.complete_runs(results)
    here = sorted((key for key in wanted if key[0] in runnable), key=lambda key: _order(key, runnable))
    cells = [
        cell
        for platform, workload in here
        for cell in _cells_for(platform, workload, tuple(wanted[platform, workload]), runs, needs, claims)
    ]
    return EvidencePlan(cells, left_out)


def _cells_for(platform: str, workload: str, ids: tuple[str, ...], runs, needs: Needs, claims: ClaimsFile):
    """The cell on the default variant; the claims about how a platform is deployed on the variant its
    vendor documents for production instead, where the stack has one (they are judged on its runs)."""
    by_id = {c.id: c for c in claims.claims}
    if workload not in spec.available():
        return [_cell(platform, workload, ids, runs, needs, claims)]
    if spec.load(workload).fault is not None:  # failover claims: on a variant with replicas of the target
        special = tuple(i for i in ids if i in by_id and by_id[i].needs.replicas)
        variant = _replicated_variant(platform, max((by_id[i].needs.replicas for i in special), default=2))
    else:
        special = tuple(i for i in ids if i in by_id and by_id[i].needs.deployment == "production")
        variant = _production_variant(platform)
    if not special or variant is None:
        return [_cell(platform, workload, ids, runs, needs, claims)]
    rest = tuple(i for i in ids if i not in special)
    return [
        *([_cell(platform, workload, rest, runs, needs, claims)] if rest else []),
        _cell(platform, workload, special, runs, needs, claims, variant),
    ]


def _native_stack(platform: str) -> definition.StackDef | None:
    info = get_platform(platform)
    return None if info.in_process or not info.has_native else definition.load(platform)


def _replicated_variant(platform: str, replicas: int) -> str | None:
    """The first variant that runs some server component as `replicas` or more instances."""
    d = _native_stack(platform)
    if d is None:
        return None
    for name in d.variants:
        servers = [s.name for s in d.services if s.role == "server" and (s.variants is None or name in s.variants)]
        counts = Counter(component_of(n) for n in servers)
        if counts and max(counts.values()) >= replicas:
            return name
    return None


def _production_variant(platform: str) -> str | None:
    d = _native_stack(platform)
    return None if d is None else next((n for n, v in d.variants.items() if v.vendor_production), None)


def _order(key: tuple[str, str], runnable: list[str]) -> tuple:
    """Workload by workload (as the workloads folder lists them), platforms in registry order."""
    platform, workload = key
    names = spec.available()
    return (names.index(workload) if workload in names else len(names), workload, runnable.index(platform))


def _why_not(platform: str, claims: ClaimsFile) -> str:
    if platform not in registered():
        return f"not a platform of this harness yet ({claims.planned_platforms.get(platform, 'not registered')})"
    return "does not run natively here (see `bench doctor`)"


def _cell(
    platform: str,
    workload: str,
    ids: tuple[str, ...],
    runs: list[tuple[Path, RunRecord]],
    needs: Needs,
    claims: ClaimsFile,
    variant: str | None = None,
) -> EvidenceCell:
    if workload not in spec.available():
        why = claims.planned_workloads.get(workload, "no such file")
        return EvidenceCell(platform, workload, None, ids, skipped=f"workloads/{workload}.yaml not written yet ({why})")
    wl = spec.load(workload)
    if variant is None:
        variant, skipped = _variant(platform, wl)
    else:
        skipped = None
    unit: Unit = "experiments" if wl.fault is not None else "runs"
    required = needs.min_experiments if wl.fault is not None else needs.min_runs
    if skipped:
        return EvidenceCell(platform, workload, None, ids, unit, required, skipped=skipped)
    mine = [r for _, r in fc.cell_runs(platform, workload, variant, runs)]
    present = sum(len(fault_outcomes(r)) for r in mine) if wl.fault is not None else len(mine)
    run_s, source = estimate(wl, mine, [r for _, r in runs if r.platform == platform and r.workload.name == workload])
    return EvidenceCell(
        platform,
        workload,
        variant,
        ids,
        unit,
        required,
        present if needs.skip_done else 0,
        max(1, wl.repetitions) if wl.fault is not None else 1,
        run_s,
        source,
    )


def _variant(platform: str, wl: Workload) -> tuple[str | None, str | None]:
    """(variant, None), or (None, why it cannot run): a fault cell runs on the variant that has the
    fault's target (the fault campaign's plan), any other on the stack's default."""
    if wl.fault is None:
        return None, None
    try:
        cell = fc.plan([platform], [wl])[0]
    except BenchError as err:  # no native stack to act on (an in-process platform)
        return None, str(err)
    return cell.variant, cell.skipped


def duration_s(record: RunRecord) -> float | None:
    if record.finished_at is None:
        return None
    return max(0.0, (record.finished_at - record.started_at).total_seconds())


def estimate(wl: Workload, cell: list[RunRecord], platform_runs: list[RunRecord]) -> tuple[float, str]:
    """A run's estimated duration and where it comes from: the median of this cell's runs, else of the
    platform's other complete runs of the workload (another variant or version), else the shape's default."""
    for runs, what in ((cell, "this cell"), (platform_runs, "the platform's other runs of the workload")):
        seconds = [d for d in map(duration_s, runs) if d is not None]
        if seconds:
            return statistics.median(seconds), f"median of {len(seconds)} run(s) of {what}"
    shape = "fault" if wl.fault is not None else wl.shape
    return SHAPE_DEFAULT_S.get(shape, 300.0), f"default for a {shape} workload"


# -- running it ------------------------------------------------------------------------------------
def run_plan(
    planned: EvidencePlan,
    run_one: Callable[[EvidenceCell], Path],
    say: Callable[[str], None],
    advance: Callable[[float], None] = lambda seconds: None,
) -> list[str]:
    """Every planned run, one after another; a line for each, with the estimated time left. A failed
    run is its line and the campaign goes on; Ctrl-C (RunInterrupted) ends it, every finished run being
    in results/ already. `advance` gets each run's estimate once it is over. The labels that failed."""
    schedule = planned.schedule()
    left = sum(c.run_s for c, _ in schedule)
    failures = []
    for n, (cell, k) in enumerate(schedule, 1):
        head = f"[{n}/{len(schedule)}] {cell.label} (run {k} of {cell.runs_needed})"
        left -= cell.run_s
        try:
            path = run_one(cell)
        except RunInterrupted:
            say(f"{head}: interrupted; {n - 1} of {len(schedule)} runs done; run it again to go on")
            raise
        except BenchError as err:
            say(f"{head} failed: {err}{_left(left)}")
            failures.append(cell.label)
            advance(cell.run_s)
            continue
        status = load_record(path / "run.json").status
        say(f"{head}: {status} -> {path}{_left(left)}")
        if status != "complete":
            failures.append(cell.label)
        advance(cell.run_s)
    return failures


def hours(seconds: float) -> str:
    """1 h 05 min, 12 min: an estimate's own precision."""
    if 0 < seconds < 30:
        return "under a minute"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _left(seconds: float) -> str:
    return f"; about {hours(seconds)} left (estimated)" if seconds > 0 else "; the last run"


def plan_lines(planned: EvidencePlan) -> list[str]:
    """The dry run: a line per cell (what exists, what is missing, its estimated cost), then the total."""
    width = max((len(c.label) for c in planned.cells), default=10)
    lines = [f"{'cell':<{width}}  {'present':>16}  {'runs needed':>11}  {'estimated':>12}  estimated from"]
    for c in planned.cells:
        if c.skipped:
            lines.append(f"{c.label:<{width}}  not run: {c.skipped}")
            continue
        have = f"{c.present}/{c.required} {'runs' if c.unit == 'runs' else 'exp.'}"
        each = f" ({c.run_s:.0f} s a run, {c.per_run} exp. each)" if c.unit == "experiments" else f" ({c.run_s:.0f} s)"
        cost = hours(c.estimated_s) if c.runs_needed else "-"
        lines.append(
            f"{c.label:<{width}}  {have:>16}  {c.runs_needed:>11}  {cost:>12}  "
            f"{c.estimated_from}{each if c.runs_needed else ''}"
        )
    lines += [f"not planned: {p}: {why}" for p, why in planned.left_out.items()]
    done = sum(1 for c in planned.cells if not c.skipped and not c.runs_needed)
    lines.append(
        f"total: {planned.runs_needed} run(s) in {sum(1 for c in planned.cells if c.runs_needed)} cell(s) "
        f"({done} cell(s) have enough), estimated {planned.total_s / 3600:.1f} h on this machine "
        "(from the durations of the runs under results/)"
    )
    return lines
