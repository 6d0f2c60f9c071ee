"""Published reference figures (published/*.yaml) beside ours, measured the same way.

The shared figure is the engine-recorded critical path of one workflow run of a chain: from the
first task's start to the last task's finish, both as the engine recorded them (tasks.parquet:
engine_started_ns, engine_finished_ns). Per engine and workload: our median over runs with its
range, theirs, the ratio, and the ranking of engines on both sides; where the rankings disagree,
the differences we can name (versions, settings, machine, interpreter) are listed.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.analysis import stats
from harness.analysis.runs import critical_path_s
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.model.registry import get
from harness.model.yamlfile import load_yaml_model
from harness.report.compare import busy_text
from harness.store.cells import stack_label

if TYPE_CHECKING:
    from harness.store.cells import Cell, CellKey

PUBLISHED_DIR = REPO_ROOT / "published"
DEFAULT_STUDY = PUBLISHED_DIR / "windmill-2026-09.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    path: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    tables: str
    run_date: str
    read_on: str


class StudyMachine(_Strict):
    description: str
    vcpus: int = Field(gt=0)
    ram_gib: float = Field(gt=0)
    notes: str


class Method(_Strict):
    runs: str
    workers: str
    statistic: str
    figure: str  # what their number means
    ours: str  # what ours means, and how it differs


class StudyWorkload(_Strict):
    published_name: str
    tasks: int = Field(gt=0)
    fib: int = Field(ge=0)


class Figure(_Strict):
    """One engine's published figure for one workload, in seconds."""

    median_s: float = Field(gt=0)
    min_s: float = Field(gt=0)
    max_s: float = Field(gt=0)
    runs_s: list[float] | None = None  # per-run totals, where their raw file was read
    first_start_s: list[float] | None = None  # per run, first task created -> started (inside their total)
    file: str  # their raw result file, relative to source.path

    @model_validator(mode="after")
    def _consistent(self) -> "Figure":
        if not self.min_s <= self.median_s <= self.max_s:
            raise ValueError(f"median_s {self.median_s} is not within min_s..max_s ({self.min_s}..{self.max_s})")
        if self.runs_s is not None:
            if abs(statistics.median(self.runs_s) - self.median_s) > 0.0005:
                raise ValueError(f"median_s {self.median_s} is not the median of runs_s")
            if (min(self.runs_s), max(self.runs_s)) != (self.min_s, self.max_s):
                raise ValueError("min_s/max_s are not the range of runs_s")
        if self.first_start_s is not None and len(self.first_start_s) != len(self.runs_s or []):
            raise ValueError("first_start_s needs one value per run of runs_s")
        return self

    @property
    def first_start_ms(self) -> float | None:
        return statistics.median(self.first_start_s) * 1000 if self.first_start_s else None


class EngineRow(_Strict):
    engine: str  # our platform name for the engine (stacks/<engine>/)
    row: str  # their row name
    config: str  # "default", "tuned", or what else differs
    version: str
    python: str
    task_is: str  # in the worker process, process per task, container per task...
    timings: str  # which engine records their timestamps come from
    setup: str
    settings: dict[str, str]  # the settings that decide their figure, with their values
    figures: dict[str, Figure]  # keyed by our workload name


class Study(_Strict):
    id: str
    title: str
    source: Source
    machine: StudyMachine
    method: Method
    workloads: dict[str, StudyWorkload]
    engines: list[EngineRow]

    @model_validator(mode="after")
    def _consistent(self) -> "Study":
        rows = [e.row for e in self.engines]
        if len(rows) != len(set(rows)):
            raise ValueError("engines: row names must be unique")
        for e in self.engines:
            unknown = set(e.figures) - set(self.workloads)
            if unknown:
                raise ValueError(f"engines: row {e.row}: figures for unknown workload(s) {sorted(unknown)}")
        defaults = [e.engine for e in self.engines if e.config == "default"]
        if len(defaults) != len(set(defaults)):
            raise ValueError("engines: at most one row with config 'default' per engine")
        return self

    def default_row(self, engine: str) -> EngineRow | None:
        return next((e for e in self.engines if e.engine == engine and e.config == "default"), None)


def load_study(path: Path = DEFAULT_STUDY) -> Study:
    """A published-figures file, validated strictly: one line naming the file and the field otherwise."""
    return load_yaml_model(Path(path), Study, "a published study")


# -- our figure -----------------------------------------------------------------------------------
class OurFigure(BaseModel):
    platform: str
    stack: str
    kind: str  # the deployment kind the run recorded (production, development...)
    run_id: str
    median_s: float
    min_s: float
    max_s: float
    n: int
    versions: str
    python: str
    cores: int | None
    settings: list[str]  # our non-default settings, "key=value (default d)"
    default_variant: bool | None = None  # the stack's default variant (None: not recorded)
    busy: str = ""  # measured repetitions taken while the machine was busy ("2 of 5", "not probed")


class PublishedRow(BaseModel):
    row: EngineRow
    figure: Figure
    ours: list[OurFigure] = Field(default_factory=list)  # empty: not measured here

    @property
    def primary(self) -> OurFigure | None:
        """The figure that stands for the engine: a production deployment before a development server."""
        prod = [o for o in self.ours if o.kind != "development"]
        return (prod or [None])[0]

    @property
    def ratio(self) -> float | None:
        return self.primary.median_s / self.figure.median_s if self.primary else None


class Ranking(BaseModel):
    ours: list[str]
    theirs: list[str]
    agree: bool
    reasons: list[str] = Field(default_factory=list)


class WorkloadTable(BaseModel):
    workload: str
    published_name: str
    rows: list[PublishedRow]
    ranking: Ranking


class PublishedComparison(BaseModel):
    study: Study
    workloads: list[WorkloadTable]


def engine_of(platform: str) -> str:
    """The engine a platform measures (temporal-dev measures temporal), from the registry."""

    try:
        return get(platform).represents or platform
    except BenchError:  # a platform in old results that is no longer registered
        return platform


def our_figure(cell: Cell) -> OurFigure | None:
    r = cell.record
    paths = critical_path_s(cell.data.tasks, r.ok_measured())
    spread = stats.spread(paths.tolist())
    if spread is None:
        return None

    # in code spans: values such as `bench-<run id>` must survive markdown's HTML pass as text
    settings = [f"`{k}={s.value}` (default `{s.default}`)" for k, s in r.settings.items()]
    return OurFigure(
        platform=r.platform,
        stack=stack_label(r),
        kind=r.deployment.kind,
        run_id=r.run_id,
        median_s=spread.median,
        min_s=spread.min,
        max_s=spread.max,
        n=spread.n,
        versions=", ".join(f"{k} {v}" for k, v in r.versions.items()),
        python=r.machine.python,
        cores=r.machine.logical_cores,
        settings=settings,
        default_variant=r.deployment.default_variant,
        busy=busy_text(cell),
    )


def _ours_by_engine(cells: dict[CellKey, Cell], workload: str) -> dict[str, list[OurFigure]]:
    """Our figures per engine for one workload: production deployments first, the default variant
    before others (as the run recorded it), then the latest."""
    rank = {True: 0, None: 1, False: 2}
    chosen = sorted(
        (c for k, c in cells.items() if k[2] == workload),
        key=lambda c: (
            c.record.deployment.kind == "development",
            rank[c.record.deployment.default_variant],
            -c.record.started_at.timestamp(),
        ),
    )
    out: dict[str, list[OurFigure]] = {}
    for cell in chosen:
        fig = our_figure(cell)
        if fig is not None:
            out.setdefault(engine_of(cell.record.platform), []).append(fig)
    return out


def _reasons(study: Study, workload: str, engines: list[str], rows: dict[str, PublishedRow]) -> list[str]:
    """What differs between their measurement and ours, per engine whose place differs."""
    out = []
    for engine in engines:
        pr = rows[engine]
        ours, theirs = pr.primary, pr.row
        assert ours is not None
        parts = [
            f"versions: theirs {theirs.version}, ours {ours.versions or '?'}",
            f"a task is {theirs.task_is} in theirs",
            f"Python {theirs.python} theirs, {ours.python} ours (the harness's; fib(33) depends on it)",
        ]
        if theirs.settings:
            parts.append("their settings: " + "; ".join(f"`{k}` = {v}" for k, v in theirs.settings.items()))
        if ours.settings:
            parts.append("ours differ from defaults: " + "; ".join(ours.settings))
        for other in study.engines:
            if other.engine == engine and other.config != "default" and workload in other.figures:
                knobs = "; ".join(f"`{k}` = {v}" for k, v in other.settings.items()) or other.config
                parts.append(f"their {other.row} row ({knobs}): {other.figures[workload].median_s:g} s")
        out.append(f"{engine}: " + "; ".join(parts))
    cores = {o.primary.cores for o in rows.values() if o.primary}
    out.append(
        f"machine: theirs {study.machine.vcpus} vCPU per engine, one engine per box; ours "
        f"{', '.join(str(c) for c in sorted(c for c in cores if c)) or '?'} logical cores"
    )
    return out


def _ranking(study: Study, workload: str, rows: dict[str, PublishedRow]) -> Ranking:
    both = [e for e, r in rows.items() if r.primary is not None]
    theirs = sorted(both, key=lambda e: rows[e].figure.median_s)
    ours = sorted(both, key=lambda e: rows[e].primary.median_s)  # type: ignore[union-attr]
    if theirs == ours:
        return Ranking(ours=ours, theirs=theirs, agree=True)
    moved = [e for e in both if ours.index(e) != theirs.index(e)]
    return Ranking(ours=ours, theirs=theirs, agree=False, reasons=_reasons(study, workload, moved, rows))


def _ours_beside(row: EngineRow, study: Study, ours: list[OurFigure]) -> list[OurFigure]:
    """Our figures for their row: our default variants beside their default row, our other variants
    beside their `tuned` row where the engine has one (else beside the default row, labelled by
    stack); their other configurations (an edition, a dedicated worker) get none."""
    has_tuned = any(e.engine == row.engine and e.config == "tuned" for e in study.engines)
    if row.config == "default":
        return [o for o in ours if o.default_variant is not False or not has_tuned]
    if row.config == "tuned":
        return [o for o in ours if o.default_variant is False]
    return []


def published_comparison(cells: dict[CellKey, Cell], study: Study | None = None) -> PublishedComparison:
    """Per workload the study shares with us: every published row beside our figures for its engine
    (our default variants beside their default row, our tuned variants beside their tuned row), the
    ratio, and the ranking of the engines measured on both sides (default rows). The report renders
    it with templates/published.md.j2."""
    study = study or load_study()
    tables = []
    for workload, wl in study.workloads.items():
        ours = _ours_by_engine(cells, workload)
        rows = [
            PublishedRow(row=e, figure=e.figures[workload], ours=_ours_beside(e, study, ours.get(e.engine, [])))
            for e in study.engines
            if workload in e.figures
        ]
        rows.sort(key=lambda r: r.figure.median_s)
        defaults = {r.row.engine: r for r in rows if r.row.config == "default"}
        tables.append(
            WorkloadTable(
                workload=workload,
                published_name=wl.published_name,
                rows=rows,
                ranking=_ranking(study, workload, defaults),
            )
        )
    return PublishedComparison(study=study, workloads=tables)
