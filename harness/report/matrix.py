"""The seed document's "Operational Comparison Matrix", laid out as in the document, with what was
measured beside the document's word in every cell. A row no run can speak to says so, and why;
a platform without a complete run says "not measured", never a zero."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

from harness.analysis import stats
from harness.analysis.fault_table import fault_report_context
from harness.model.errors import BenchError
from harness.model.record import RunRecord, Spread
from harness.model.registry import METADATA_FILE, platforms, seed_columns, shown_path

if TYPE_CHECKING:
    from harness.store.cells import Cell, CellKey

# Words of claim ids that speak to a row: their verdicts are shown in the row's cells.
ROW_CLAIM_WORDS = {
    "Setup Complexity": ("setup", "complex", "simple", "deployment", "multi-service"),
    "Resource Requirements": ("resource", "memory", "compute", "efficien", "utilization", "usage"),
    "Scaling Model": ("scal", "throughput", "per-s", "sub-ms", "performance", "13x"),
    "HA Complexity": ("ha-", "failover", "stateless", "reassign", "recovery", "executors"),
    "Security Features": ("security", "auth", "tls", "rbac", "sso", "soc"),
    "Monitoring": ("monitor", "metrics", "prometheus"),
    "Operational Skills": ("skill",),
    "Maintenance Overhead": ("maint", "upgrade"),
}
DEPLOYMENT_RANK = {"production": 3, "external": 2, "development": 1, "in-process": 0}

Status = Literal["measured", "not measured", "not measurable"]


@dataclass
class MatrixCell:
    claimed: str  # the document's word
    status: Status
    text: str  # the measured value, or why there is none
    runs: list[RunRecord] = field(default_factory=list)
    warning: str | None = None  # spread too large to trust, or a development server only
    claims: list[tuple[str, str]] = field(default_factory=list)  # (claim id, verdict)


@dataclass
class MatrixRow:
    aspect: str
    how: str  # what we measure for this row, or why nothing can be
    cells: dict[str, MatrixCell]
    claims: list[tuple[str, str]] = field(default_factory=list)  # claims about every platform at once


@dataclass
class Column:
    name: str  # the platform the document names (or a reference platform)
    title: str
    cells: dict[str, Cell]  # workload -> the run chosen for this column
    label: str | None  # "platform (stack)" of the chosen runs
    missing: str | None  # why nothing was measured


def doc_columns() -> dict[str, str]:
    """The document's columns in its order: platform -> title (each platform.yaml's seed_matrix)."""

    return {i.name: i.seed_matrix.column for i in seed_columns() if i.seed_matrix}


def doc_words() -> dict[str, dict[str, str]]:
    """The document's word per platform and aspect (seed_matrix.claims); every platform with a column
    words every row of ROWS and nothing else, or the report would lay out a different matrix."""

    out = {}
    for info in seed_columns():
        claims = info.seed_matrix.claims if info.seed_matrix else {}
        odd = sorted(set(claims) ^ set(ROWS))
        if odd:
            raise BenchError(
                f"{shown_path(info.stack_dir / METADATA_FILE)}: seed_matrix.claims: "
                f"{'unknown' if odd[0] in claims else 'missing'} aspect {odd[0]!r} "
                f"(the rows are: {', '.join(ROWS)})"
            )
        out[info.name] = dict(claims)
    return out


def columns(cells: dict[CellKey, Cell]) -> list[Column]:
    """The document's five platforms, plus reference platforms (Airflow) where measured."""

    registry = platforms()
    titles = doc_columns()
    names = list(titles) + [
        n
        for n, i in registry.items()
        if i.kind == "reference" and any(_represents(p, registry) == n for p, _, _ in cells)
    ]
    out = []
    for name in names:
        chosen = _chosen_runs(cells, name, registry)
        first = next(iter(chosen.values()), None)
        label = f"{first.record.platform} ({_stack(first.record)})" if first else None
        info = registry.get(name)
        why = None if chosen else _missing(info)
        out.append(Column(name, titles.get(name, name.capitalize()), chosen, label, why))
    return out


def _represents(platform: str, registry: dict) -> str:
    info = registry.get(platform)
    return (info.represents or platform) if info else platform


def _stack(record: RunRecord) -> str:
    d = record.deployment
    return "in-process" if d.kind == "in-process" else (f"native {d.variant}" if d.backend == "native" else d.backend)


def _chosen_runs(cells: dict[CellKey, Cell], column: str, registry: dict) -> dict[str, Cell]:
    """Per workload, the run of a platform standing for this column: a production-shaped
    deployment before a development server, the default variant, then the latest."""
    best: dict[str, Cell] = {}
    for (platform, _, workload), cell in cells.items():
        if _represents(platform, registry) != column:
            continue
        r = cell.record
        rank = (DEPLOYMENT_RANK.get(r.deployment.kind, 0), r.deployment.default_variant is not False, r.started_at)
        old = best.get(workload)
        if old is None or rank > (
            DEPLOYMENT_RANK.get(old.record.deployment.kind, 0),
            old.record.deployment.default_variant is not False,
            old.record.started_at,
        ):
            best[workload] = cell
    return best


def _missing(info) -> str:
    if info is None:
        return "not registered"
    if info.native_missing and info.has_compose:
        return "no run here: its compose stack needs a Docker engine"
    return info.native_missing or "no complete run in these results"


def _span(s: Spread | None, unit: str) -> str:
    if s is None:
        return "–"
    if s.n == 1:
        return f"{s.median:.2f} {unit}"
    return f"{s.median:.2f} {unit} [{s.min:.2f}–{s.max:.2f}] over {s.n} runs"


def _same_stack(cells: dict[CellKey, Cell], record: RunRecord) -> list[RunRecord]:
    return [c.record for (p, label, _), c in cells.items() if p == record.platform and label == _stack(record)]


def setup_cell(col: Column, all_cells: dict[CellKey, Cell]) -> tuple[str, list[RunRecord], str | None, float | None]:
    ref = col.cells.get("idle-60s") or next(iter(col.cells.values()))
    runs = _same_stack(all_cells, ref.record)
    ready = stats.spread(r.setup.start_to_ready_s for r in runs)
    services = ref.record.setup.long_running_services
    text = f"{services if services is not None else '?'} long-running services; start -> ready {_span(ready, 's')}"
    warn = f"start -> ready spreads {ready.cv:.0%} (cv) over {ready.n} runs" if ready and ready.unstable else None
    return text, [ref.record], warn, float(services) if services is not None else None


def idle_memory(cell: Cell) -> tuple[float, float, int] | None:
    """Mean memory (PSS where sampled, else RSS) and CPU of all the platform's services while idle."""
    rows = [r for r in cell.summary.resources if r.kind == "idle" and r.role != "harness"]
    if not rows:
        return None
    mem = sum((r.pss_mean_mb if r.pss_mean_mb is not None else r.rss_mean_mb) or 0.0 for r in rows)
    return mem, sum(r.cpu_mean_pct or 0.0 for r in rows), len(rows)


def resource_cell(col: Column, _all) -> tuple[str, list[RunRecord], str | None, float | None]:
    cell = col.cells.get("idle-60s")
    found = idle_memory(cell) if cell else None
    if not found:
        return "", [], None, None
    mem, cpu, n = found
    kind = "PSS" if all(r.pss_mean_mb is not None for r in cell.summary.resources if r.kind == "idle") else "RSS"
    return f"idle: {mem:.0f} MiB ({kind}, all {n} services), CPU {cpu:.1f}% of a core", [cell.record], None, mem


def scaling_cell(col: Column, _all) -> tuple[str, list[RunRecord], str | None, float | None]:
    """Related figures: the rate sweep's maximum sustainable rate where one ran, else fan-out throughput."""
    sweeps = {w: c for w, c in col.cells.items() if getattr(c.record, "load", None) is not None}
    if sweeps:
        parts = []
        for w, c in sorted(sweeps.items()):
            mst = c.record.load.max_sustainable_per_s
            bound = "≥ " if c.record.load.max_sustainable_is_lower_bound and mst is not None else ""
            parts.append(f"{w} {bound}{mst:g} runs/s sustained" if mst is not None else f"{w}: none sustained")
        return "related: " + "; ".join(parts), [c.record for _, c in sorted(sweeps.items())], None, None
    cell = col.cells.get("fanout-100-noop")
    tp = cell.summary.throughput_tasks_per_s if cell else None
    if tp is None:
        return "", [], None, None
    warn = f"throughput spreads {tp.cv:.0%} (cv) over {tp.n} repetitions" if tp.unstable else None
    return (
        f"related: fanout-100-noop {tp.median:.0f} tasks/s [{tp.min:.0f}–{tp.max:.0f}] on one worker",
        [cell.record],
        warn,
        None,
    )


def ha_cell(col: Column, _all) -> tuple[str, list[RunRecord], str | None, float | None]:
    """What the platform did in the fault scenarios (harness/analysis/fault_table.py)."""
    fault_cells = {(c.record.platform, "", w): c for w, c in col.cells.items() if w.startswith("fault-")}
    rows = fault_report_context(fault_cells).get("rows", []) if fault_cells else []
    if not rows:
        return "", [], None, None
    seen: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        seen.setdefault((r["scenario"], r["service"]), []).append(r)
    parts = []
    for (scenario, service), reps in sorted(seen.items()):
        behaviours = sorted({str(r["behaviour"]) for r in reps})
        recovery = stats.spread(r["recovery_s"] for r in reps)
        parts.append(
            f"{scenario} ({service}): {'/'.join(behaviours)}"
            + (f", first completion after the fault {recovery.median:.1f} s" if recovery else "")
        )
    runs = [col.cells[w].record for w in sorted(col.cells) if w.startswith("fault-")]
    return "fault scenarios: " + "; ".join(parts), runs, None, None


def maintenance_cell(col: Column, _all) -> tuple[str, list[RunRecord], str | None, float | None]:
    cell = col.cells.get("idle-60s") or next(iter(col.cells.values()))
    s = cell.record.setup
    size = f"{s.footprint_bytes / 2**20:.0f} MB installed" if s.footprint_bytes else "footprint not recorded"
    return f"related: {s.long_running_services} services to run and upgrade, {size}", [cell.record], None, None


Measure = Callable[[Column, dict], tuple[str, list[RunRecord], str | None, float | None]]
# aspect -> (what we measure, the measurement or None, status when measured, why when nothing is).
# The rows and their order are the report's layout (the document's row order), not a fact of any one
# platform, so they are kept here; each platform's words per row are in its platform.yaml (doc_words).
ROWS: dict[str, tuple[str, Measure | None, Status, str]] = {
    "Setup Complexity": (
        "services kept running, and first launch -> every service ready (median over runs)",
        setup_cell,
        "measured",
        "",
    ),
    "Resource Requirements": (
        "memory and CPU of all services, idle-60s (PSS: shared pages counted once)",
        resource_cell,
        "measured",
        "no idle-60s run",
    ),
    "Scaling Model": (
        "a scaling model is an architecture, not a figure; the load sweep measures how throughput follows load",
        scaling_cell,
        "not measurable",
        "no fanout-100-noop run",
    ),
    "HA Complexity": (
        "what a platform does when a service is killed, restarted or frozen mid-run (the fault workloads)",
        ha_cell,
        "measured",
        "no fault-scenario results yet",
    ),
    "Security Features": (
        "a list of features (authentication, RBAC, TLS, compliance) that no run measures",
        None,
        "not measurable",
        "feature list, not a behaviour",
    ),
    "Monitoring": (
        "a probeable capability (a Prometheus metrics endpoint); see the claims table",
        None,
        "not measured",
        "no capability probe in these results",
    ),
    "Operational Skills": (
        "the skills an operator needs are not a measurement",
        None,
        "not measurable",
        "a judgement about people",
    ),
    "Maintenance Overhead": (
        "needs operation over time (upgrades, migrations); related: what there is to run",
        maintenance_cell,
        "not measured",
        "needs operation over time",
    ),
}


def matrix(cells: dict[CellKey, Cell], claim_views: list) -> tuple[list[Column], list[MatrixRow]]:
    cols, words = columns(cells), doc_words()
    rows = []
    for aspect, (how, measure, status, why) in ROWS.items():
        row = MatrixRow(aspect, how, {})
        values: dict[str, float] = {}
        for col in cols:
            claimed = words[col.name][aspect] if col.name in words else "not in the document"
            row.cells[col.name] = _cell(col, cells, claimed, measure, status, why, values)
        _rank(row, values)
        row.claims = _attach_claims(row, claim_views)
        rows.append(row)
    return cols, rows


def _cell(
    col: Column, cells, claimed: str, measure: Measure | None, status: Status, why: str, values: dict[str, float]
) -> MatrixCell:
    if measure is None and status == "not measurable":
        return MatrixCell(claimed, status, why)
    if col.missing:
        return MatrixCell(claimed, "not measured", col.missing)
    if measure is None:
        return MatrixCell(claimed, status, why)
    text, runs, warning, value = measure(col, cells)
    if not text:
        return MatrixCell(claimed, "not measured", why)
    other = {f"{r.platform} ({_stack(r)})" for r in runs} - {col.label}
    if other:  # a figure from another stack than the column's header names
        text += f" ({', '.join(sorted(other))})"
    dev = [r for r in runs if r.deployment.kind == "development"]
    if dev:
        warning = "; ".join(filter(None, [warning, f"a development server only ({dev[0].deployment.description})"]))
    elif value is not None:
        values[col.name] = value
    return MatrixCell(claimed, status, text, runs, warning)


def _rank(row: MatrixRow, values: dict[str, float]) -> None:
    """Where a row has a figure, each measured platform's rank (1 = least), to set beside Low/Moderate/High."""
    order = sorted(values, key=values.get)
    for name in order:
        row.cells[name].text += f" (rank {order.index(name) + 1} of {len(order)}, least first)"


def _attach_claims(row: MatrixRow, claim_views: list) -> list[tuple[str, str]]:
    """Verdicts of the claims that speak to this row: in each named platform's cell; those about
    every platform are returned, for the row's own cell."""
    words = ROW_CLAIM_WORDS[row.aspect]
    about_all = []
    for c in claim_views:
        if not c.measurable or not any(w in c.id.lower() for w in words):
            continue
        if "all" in c.platforms or len(c.platforms) > 2:
            about_all.append((c.id, c.verdict))
            continue
        for name, cell in row.cells.items():
            if name in c.platforms:
                cell.claims.append((c.id, c.verdict))
    return about_all
