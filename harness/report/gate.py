"""The CI gate of `.ci/reproduce-claims`: a short re-measurement against the committed evidence.

Two questions, each answered from the two results folders alone:

1. Would a committed verdict flip? A claim the committed results decide (supported or contradicted) fails
   the gate when the re-measurement decides it the other way. A re-measurement that cannot decide it
   (inconclusive: a short run has fewer runs than a verdict needs; not measured: the cell was not run or
   failed) is not a flip, and the output says so claim by claim. A claim that can no longer be evaluated
   (error) fails too.
2. Did a figure move? Every figure both sets measured (the same platform and workload, paired as
   `bench compare` pairs cells) is tested as `bench compare` tests it: Mann-Whitney U on the raw samples
   (per task for latencies, per repetition for critical path and throughput, per run for setup times).
   It fails the gate when the difference is significant (p < ALPHA) *and* larger than the tolerance, in
   either direction: a figure that halved no longer reproduces the committed evidence any more than one
   that doubled. The tolerance is a factor, so +50% and -33% (1/1.5) are the same distance.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, Field

from harness.claims import ClaimResult, evaluate, load
from harness.model.errors import BenchError
from harness.report.compare import ALPHA, Comparison, Delta, side_by_side
from harness.store.cells import Cell, CellKey, IncompleteRun, claim_cells, claim_series, collect

# Between two sessions on the same 2-core shared VMs, unchanged code moves latency and setup figures by
# 30-50% (other tenants, CPU steal, cold caches), and the CI re-measurement is shorter than the committed
# runs. A tighter default would fail CI on noise; a harness or platform regression that matters (a task
# path twice as slow) still moves a figure by more. CLAIMS_CI_TOLERANCE (percent) overrides it.
DEFAULT_TOLERANCE_PCT = 50.0
TOLERANCE_ENV = "CLAIMS_CI_TOLERANCE"
# And a time must move by at least this much: engine timestamps put some figures at tens of microseconds
# (Temporal's queued -> started is 0.02 ms), where a scheduler's hiccup doubles them; what a user of an
# orchestrator can notice, and what any claim rests on, is milliseconds and up. CLAIMS_CI_FLOOR_MS overrides.
DEFAULT_FLOOR_MS = 1.0
FLOOR_ENV = "CLAIMS_CI_FLOOR_MS"
MS_PER_UNIT = {"ms": 1.0, "s": 1000.0}  # figures in other units (tasks/s) have no floor
DECIDED = ("supported", "contradicted")
OPPOSITE = {"supported": "contradicted", "contradicted": "supported"}


class VerdictCheck(BaseModel):
    """One claim the committed results decide, and what the re-measurement says of it."""

    claim: str
    committed: str
    remeasured: str
    flipped: bool
    value_committed: float | None = None
    value_remeasured: float | None = None
    threshold: float | None = None
    n_remeasured: int | None = None
    note: str = ""  # why it is not a flip (inconclusive, not measured), or what would decide it


class FigureMove(BaseModel):
    """One figure of one cell (or of a platform's stack, for setup times) tested against the committed one."""

    where: str  # "null (in-process) latency-probe"
    metric: str
    unit: str
    committed: float
    remeasured: float
    change_pct: float
    factor: float  # max(b/a, a/b): how far it moved, whichever way
    p_value: float
    n_committed: int
    n_remeasured: int
    worse: bool
    settings: list[str] = Field(default_factory=list)  # re-measured settings the committed run lacks


class GateResult(BaseModel):
    committed: str
    remeasured: str
    tolerance_pct: float
    floor_ms: float = DEFAULT_FLOOR_MS
    alpha: float = ALPHA
    verdicts: list[VerdictCheck] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # claims the re-measurement could not evaluate
    moves: list[FigureMove] = Field(default_factory=list)  # every tested figure, within tolerance or not
    untested: int = 0  # figures with too few samples on a side to test (one idle window per side)
    cells: list[str] = Field(default_factory=list)  # the cells compared
    # re-measured / committed median time of the same CPU-bound task body (fib): how much faster or slower
    # the machine ran; not a decision, a hint beside the moves (a slower host moves every figure with it)
    cpu_ratio: float | None = None
    not_remeasured: int = 0  # committed cells the short set does not re-measure

    @property
    def flips(self) -> list[VerdictCheck]:
        return [v for v in self.verdicts if v.flipped]

    def allowed_factor(self) -> float:
        """The tolerance, widened by how much slower this machine ran the same CPU-bound task body than
        the committed session did: between sessions the host's speed moved every figure 1.6-4.4x
        (2026-11-24 vs 2026-12-03 results: the fib(33) body took 327 ms vs 716 ms), which no code did."""
        return (1 + self.tolerance_pct / 100) * max(1.0, self.cpu_ratio or 1.0)

    def beyond(self, m: FigureMove) -> bool:
        """Worse, significant, by a larger factor than allowed, and (a time) by more than the floor.
        A figure that got better fails nothing: a regression gate, and the committed evidence came from
        a slower session than most (better moves are listed, see render)."""
        per_ms = MS_PER_UNIT.get(m.unit)
        big = per_ms is None or abs(m.remeasured - m.committed) * per_ms >= self.floor_ms
        return m.worse and m.p_value < self.alpha and m.factor > self.allowed_factor() and big

    def improved(self, m: FigureMove) -> bool:
        """Better by as much as `beyond` would fail a worse figure for: shown, never failing."""
        return not m.worse and m.p_value < self.alpha and m.factor > self.allowed_factor()

    @property
    def offending(self) -> list[FigureMove]:
        return [m for m in self.moves if self.beyond(m)]

    @property
    def failed(self) -> bool:
        return bool(self.flips or self.offending or self.errors)


# -- what each folder says ------------------------------------------------------------------------
def read_folder(path: Path, what: str) -> tuple[dict[CellKey, Cell], list[IncompleteRun]]:
    """The folder's cells (latest complete run per platform, stack and workload) and its runs that did
    not complete; a BenchError in one line when there is no folder or no complete run in it."""
    if not path.is_dir():
        raise BenchError(f"{what} results: {path} is not a folder")
    cells, incomplete = collect(path)
    if not cells:
        raise BenchError(
            f"{what} results: {path} holds no complete run (expected <platform>/<run-id>/run.json): nothing to compare"
        )
    return cells, incomplete


def claim_results(cells: dict[CellKey, Cell], incomplete: list[IncompleteRun]) -> dict[str, ClaimResult]:
    """Each claim's verdict over the cells, as `bench claims` evaluates a results folder."""
    return {r.id: r for r in evaluate(claim_cells(cells), incomplete, load(), claim_series(cells))}


def check_verdicts(old: dict[str, ClaimResult], new: dict[str, ClaimResult]) -> list[VerdictCheck]:
    """Every claim the committed results decide, with the re-measured verdict and whether it flipped."""
    out = []
    for cid, was in old.items():
        if was.verdict not in DECIDED:
            continue
        now = new.get(cid)
        verdict = now.verdict if now else "absent"
        flipped = verdict == OPPOSITE[was.verdict]
        note = ""
        if verdict == "inconclusive":
            decides = now.evidence.decides if now else ""
            note = "not a flip: the short re-measurement cannot decide it" + (f" ({decides})" if decides else "")
        elif verdict in ("not measured", "absent"):
            note = "not a flip: not re-measured" + (f" ({now.missing})" if now and now.missing else "")
        out.append(
            VerdictCheck(
                claim=cid,
                committed=was.verdict,
                remeasured=verdict,
                flipped=flipped,
                value_committed=was.evidence.value,
                value_remeasured=now.evidence.value if now else None,
                threshold=was.evidence.threshold,
                n_remeasured=now.evidence.n if now else None,
                note=note,
            )
        )
    return out


# -- figures --------------------------------------------------------------------------------------
def matched(cells_a: dict[CellKey, Cell], cells_b: dict[CellKey, Cell]) -> tuple[dict, dict]:
    """Only the cells of a (platform, workload) both sides measured: `bench compare` would otherwise pair
    two lone runs of different workloads."""
    both = {(p, w) for p, _, w in cells_a} & {(p, w) for p, _, w in cells_b}
    return (
        {k: c for k, c in cells_a.items() if (k[0], k[2]) in both},
        {k: c for k, c in cells_b.items() if (k[0], k[2]) in both},
    )


def _move(where: str, d: Delta, settings: list[str]) -> FigureMove | None:
    if d.p_value is None or d.a is None or d.b is None:
        return None
    if d.a == d.b:
        factor = 1.0
    elif d.a <= 0 or d.b <= 0:
        factor = math.inf  # from or to zero: no ratio, as far as it can move
    else:
        factor = max(d.b / d.a, d.a / d.b)
    change = (d.b / d.a - 1) * 100 if d.a else math.inf
    return FigureMove(
        where=where,
        metric=d.metric,
        unit=d.unit,
        committed=d.a,
        remeasured=d.b,
        change_pct=change,
        factor=factor,
        p_value=d.p_value,
        n_committed=d.n_a,
        n_remeasured=d.n_b,
        worse=(d.b < d.a) if d.higher_is_better else (d.b > d.a),
        settings=settings,
    )


def _settings_added(a: Cell, b: Cell) -> list[str]:
    """Non-default settings of the re-measured run that the committed run does not have (with that value)."""
    old = a.record.settings
    return [f"{k}={s.value}" for k, s in sorted(b.record.settings.items()) if k not in old or old[k].value != s.value]


def figure_moves(comp: Comparison, cells_a: dict, cells_b: dict) -> tuple[list[FigureMove], int]:
    """Every tested figure of the comparison as a move, and how many could not be tested."""
    moves, untested = [], 0
    by_run = {c.record.run_id: c for c in [*cells_a.values(), *cells_b.values()]}
    for cell in comp.cells:
        settings = _settings_added(by_run[cell.run_a], by_run[cell.run_b])
        for d in cell.deltas:
            m = _move(f"{cell.platform} ({cell.stack_b}) {cell.workload}", d, settings)
            moves += [m] if m else []
            untested += m is None
    for plat in comp.platforms:
        for d in plat.deltas:
            m = _move(f"{plat.platform} ({plat.stack_b}) stack", d, [])
            moves += [m] if m else []
            untested += m is None
    return moves, untested


def _body_ms(cell: Cell) -> float | None:
    t = cell.data.tasks
    if (cell.record.workload.spec.get("task") or {}).get("op") != "fib" or t.empty:
        return None
    t = t[t["repetition"].isin(cell.record.ok_measured())]
    return float(((t["body_end_ns"] - t["body_start_ns"]) / 1e6).median()) if len(t) else None


def cpu_ratio(cells_a: dict[CellKey, Cell], cells_b: dict[CellKey, Cell]) -> float | None:
    """Median over the paired cells of a CPU-bound op of the re-measured/committed task-body time."""
    ratios = sorted(
        b / a for k in cells_a.keys() & cells_b.keys() if (a := _body_ms(cells_a[k])) and (b := _body_ms(cells_b[k]))
    )
    return ratios[len(ratios) // 2] if ratios else None


def check(
    committed: Path,
    remeasured: Path,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    floor_ms: float = DEFAULT_FLOOR_MS,
) -> GateResult:
    """The gate's answer for two results folders; a BenchError (one line) for a missing or empty one."""
    if not (tolerance_pct >= 0 and floor_ms >= 0):
        raise BenchError(f"tolerance {tolerance_pct}% and floor {floor_ms} ms: each must be a number >= 0")
    (cells_a, inc_a), (cells_b, inc_b) = read_folder(committed, "committed"), read_folder(remeasured, "re-measured")
    old, new = claim_results(cells_a, inc_a), claim_results(cells_b, inc_b)
    result = GateResult(
        committed=str(committed), remeasured=str(remeasured), tolerance_pct=tolerance_pct, floor_ms=floor_ms
    )
    result.verdicts = check_verdicts(old, new)
    result.errors = [f"{cid}: {r.evidence.text}" for cid, r in new.items() if r.verdict == "error"]
    pair_a, pair_b = matched(cells_a, cells_b)
    if pair_a:
        comp = side_by_side(pair_a, pair_b, "committed", "re-measured")
        result.moves, result.untested = figure_moves(comp, pair_a, pair_b)
        result.cells = [f"{c.platform} ({c.stack_b}) {c.workload}" for c in comp.cells]
        result.cpu_ratio = cpu_ratio(pair_a, pair_b)
    result.not_remeasured = len(cells_a) - len(pair_a)
    return result


# -- in words -------------------------------------------------------------------------------------
def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def move_line(m: FigureMove) -> str:
    how = "worse" if m.worse else "better"
    factor = "from or to zero" if math.isinf(m.factor) else f"x{m.factor:.2f} {how}"
    extra = f"; re-measured with {', '.join(m.settings)}" if m.settings else ""
    return (
        f"{m.where} {m.metric}: {_num(m.committed)} -> {_num(m.remeasured)} {m.unit} ({m.change_pct:+.1f}%, "
        f"{factor}), p={m.p_value:.2g}, n={m.n_committed}+{m.n_remeasured}{extra}"
    )


def verdict_line(v: VerdictCheck) -> str:
    values = ""
    if v.value_committed is not None or v.value_remeasured is not None:
        values = f" (figure {_num(v.value_committed)} -> {_num(v.value_remeasured)}"
        values += f", threshold {_num(v.threshold)})" if v.threshold is not None else ")"
    note = f": {v.note}" if v.note else ""
    return f"{v.claim}: {v.committed} -> {v.remeasured}{values}{note}"


def summary(r: GateResult) -> str:
    decided = len(r.verdicts)
    undecided = sum(1 for v in r.verdicts if v.remeasured not in DECIDED)
    significant = [m for m in r.moves if m.p_value < r.alpha]
    largest = max(significant, key=lambda m: m.factor, default=None)
    biggest = (
        f"; largest significant move {largest.where} {largest.metric} {largest.change_pct:+.1f}%" if largest else ""
    )
    return (
        f"{len(r.flips)} of {decided} committed decided verdicts flipped ({undecided} not decided by the short "
        f"re-measurement: inconclusive or not measured, not a flip); {len(r.offending)} of {len(r.moves)} figures "
        f"in {len(r.cells)} cells got significantly worse (p < {r.alpha:g}) beyond x{r.allowed_factor():.2f} "
        f"({r.tolerance_pct:g}% widened by the machine's measured slowdown)"
        f" (and {r.floor_ms:g} ms for a time)"
        f" ({r.untested} untested: one sample a side){biggest}"
    )


def report_lines(r: GateResult, verbose: bool = False) -> list[str]:
    """What the gate prints: every flip, offending figure and error, one line each, then the summary;
    `verbose` adds every decided claim's check and every significant move within the tolerance."""
    out = [f"FLIP {verdict_line(v)}" for v in r.flips]
    out += [f"MOVED {move_line(m)}" for m in sorted(r.offending, key=lambda m: -m.factor)]
    out += [f"ERROR {e}" for e in r.errors]
    better = sorted((m for m in r.moves if r.improved(m)), key=lambda m: -m.factor)
    out += [f"   better (not failing): {move_line(m)}" for m in better]
    if verbose:
        out += [f"   {verdict_line(v)}" for v in r.verdicts if not v.flipped]
        within = [m for m in r.moves if m.p_value < r.alpha and not r.beyond(m)]
        out += [f"   within tolerance or floor: {move_line(m)}" for m in sorted(within, key=lambda m: -m.factor)]
    if r.cpu_ratio is not None and (r.offending or better or verbose):
        out.append(
            f"   note: the same CPU-bound task body (fib) took x{r.cpu_ratio:.2f} the committed time: figures move "
            "with the machine's speed as well as with the code"
        )
    verdict = "FAILED" if r.failed else "passed"
    out.append(f"claims gate {verdict}: {summary(r)}")
    return out
