"""`bench report`: the latest complete run of each platform/variant/workload, re-analysed from the
raw samples in results/, rendered to markdown and to one self-contained HTML page."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jinja2

from harness import claims
from harness.analysis import runs as analysis
from harness.analysis import stats
from harness.model.errors import BenchError
from harness.model.record import (
    Machine,
    RunRecord,
    Setting,
)
from harness.model.registry import get, seed_platforms
from harness.report import charts
from harness.report import claims as report_claims
from harness.report import matrix as report_matrix
from harness.report import page as report_page
from harness.report.model import SETUP_TIMES, LatencyRow, SetupRow
from harness.store.cells import Cell, CellKey, IncompleteRun, claim_cells, claim_series, collect

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"), autoescape=False, trim_blocks=True, lstrip_blocks=True
)
TEMPLATES.filters["f"] = lambda v, fmt=".1f": "–" if v is None or isinstance(v, jinja2.Undefined) else format(v, fmt)
# Text inside a markdown table cell: a pipe would end the cell, a newline the row.
TEMPLATES.filters["cell"] = lambda v: " ".join(str(v or "").split()).replace("|", "\\|")


def render(results: Path, out: Path | None = None, against: Path | None = None) -> tuple[Path, Path]:
    """report.md and its twin report.html (one self-contained page) in `out` (default results/report),
    with relative links from there down to each run's run.json; `against`: another results folder to
    set beside this one."""
    cells, incomplete = collect(results)
    if not cells:
        raise BenchError(f"no complete runs under {results}; run `make bench` first")
    out = out or results / "report"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        if old.name != "report.png":  # the page's screenshot (tests/test_report_page.py) is not a chart
            old.unlink()
    other = (str(against), collect(against)[0]) if against else None
    drawn = charts.draw_all(cells, _setup_rows(cells), out) + report_page.extra_charts(cells, out)
    md = out / "report.md"
    md.write_text(
        TEMPLATES.get_template("report.md.j2").render(
            **_context(results, out, cells, incomplete, drawn), partials=report_page.partials(TEMPLATES, cells, other)
        )
    )
    html = out / "report.html"
    html.write_text(report_page.html_page(md.read_text(), drawn))
    return md, html


def _context(
    results: Path, out: Path, cells: dict[CellKey, Cell], incomplete: list[IncompleteRun], drawn: list[dict]
) -> dict:
    chosen = claim_cells(cells)
    verdicts = claims.evaluate(chosen, incomplete, series=claim_series(cells))  # as `bench claims` does
    claim_views = report_claims.views(verdicts, chosen)
    columns, matrix = report_matrix.matrix(cells, claim_views)
    machines = _machines(cells)
    labels = {report_page.machine_key(m): f"M{i + 1}" for i, m in enumerate(machines)}
    rows, setup = _rows(cells), _setup_rows(cells)

    def link(record: RunRecord) -> str:
        return report_claims.run_link(record, results, out)

    return {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "results": str(results),
        "machines": [(labels[report_page.machine_key(m)], m) for m in machines],
        "workloads": sorted({k[2] for k in cells}),
        "rows": rows,
        "setup": setup,
        "resources": _resource_rows(cells),
        "settings": _settings(cells),
        "claims": claim_views,
        "claim_counts": report_claims.counts(claim_views),
        "columns": columns,
        "matrix": matrix,
        "link": link,
        "provenance": report_page.provenance(cells, labels, link),
        "spread_warnings": report_page.spread_warnings(rows, setup),
        "wait_poll": _wait_poll_rows(cells),
        "busy": _busy_rows(cells),
        "unprobed": sum(1 for c in cells.values() if any(r.machine_state is None for r in c.record.repetitions)),
        "not_measured": _not_measured(cells),
        "incomplete": incomplete,
        "metrics": analysis.LATENCY_METRICS,
        "charts": drawn,
        "html": False,
    }


def _not_measured(cells: dict[CellKey, Cell]) -> list[str]:
    """Seed platforms without a complete run here, each with why (from the registry)."""
    measured = {k[0] for k in cells}
    out = []
    for p in seed_platforms():
        if p in measured:
            continue
        info = get(p)
        why = info.native_missing or "no complete run in these results"
        if info.native_missing and info.has_compose and "compose" not in why:
            why = f"natively: {why}; its compose stack needs a Docker engine"
        out.append(f"{p} ({why})")
    return out


def _machines(cells: dict[CellKey, Cell]) -> list[Machine]:
    """Each distinct machine once; what changes from run to run (frequency, load) is left out."""
    seen: dict[str, Machine] = {}
    for cell in cells.values():
        seen[report_page.machine_key(cell.record.machine)] = cell.record.machine
    return list(seen.values())


def _rows(cells: dict[CellKey, Cell]) -> dict[str, list[LatencyRow]]:
    rows: dict[str, list[LatencyRow]] = {}
    for (platform, label, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        s = cell.summary
        rows.setdefault(workload, []).append(
            LatencyRow(
                platform=platform,
                variant=label,
                backend=cell.record.backend,
                run_id=cell.record.run_id,
                ok=s.measured_repetitions_ok,
                failed=s.measured_repetitions_failed,
                lat=s.latency_ms,
                throughput=s.throughput_tasks_per_s,
                p50_spread=s.submit_to_first_start_p50_by_repetition_ms,
                anomalies=s.engine_anomalies,
                busy=len(s.busy_repetitions),
                record=cell.record,
            )
        )
    return rows


def _setup_rows(cells: dict[CellKey, Cell]) -> list[SetupRow]:
    """One row per platform and stack. Every run is one stack lifecycle, so every run is one
    sample of the setup times: the row gives their median and range over the runs shown."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for (platform, label, _), cell in cells.items():
        groups.setdefault((platform, label), []).append(cell.record)
    rows = []
    for (platform, label), runs in sorted(groups.items()):
        latest = max(runs, key=lambda r: r.started_at).setup
        times = {key: stats.spread(getattr(r.setup, key) for r in runs) for key in SETUP_TIMES}
        rows.append(SetupRow(platform, label, len(runs), latest, times))
    return rows


def _resource_rows(cells: dict[CellKey, Cell]) -> list[dict]:
    rows = []
    for (platform, label, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        for r in cell.summary.resources:
            if r.kind in ("idle", "measured"):
                rows.append({"platform": platform, "variant": label, "workload": workload, **r.model_dump()})
    return rows


def _settings(cells: dict[CellKey, Cell]) -> dict[str, dict[str, Setting]]:
    out = {}
    for (platform, label, _), cell in cells.items():
        out[f"{platform} ({label})"] = cell.record.settings
    return dict(sorted(out.items()))


def _wait_poll_rows(cells: dict[CellKey, Cell]) -> list[dict[str, str]]:
    """How each platform's adapter learns that a workflow finished: this bounds workflow_e2e's
    resolution (a poll every 50 ms cannot resolve less than 50 ms)."""
    out: dict[tuple[str, str], str] = {}
    for (platform, label, _), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        r = cell.record
        if r.wait_poll_s is not None:
            how = f"polls every {r.wait_poll_s * 1000:g} ms"
        elif r.migrated_from_schema is not None:
            how = f"not recorded (schema {r.migrated_from_schema} run)"
        else:
            how = "the SDK long-polls or streams the result (no interval)"
        out[(platform, label)] = how
    return [{"platform": p, "variant": v, "how": how} for (p, v), how in out.items()]


def _busy_rows(cells: dict[CellKey, Cell]) -> list[dict]:
    """Every repetition of the runs shown that was measured while the machine was busy."""
    rows = []
    for (platform, label, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        for rep in cell.record.busy_repetitions():
            state = rep.machine_state
            rows.append(
                {
                    "platform": platform,
                    "variant": label,
                    "workload": workload,
                    "phase": rep.phase,
                    "reason": state.busy_reason,
                    "steal_pct": state.steal_pct,
                    "load": state.load_avg_1m_end,
                }
            )
    return rows
