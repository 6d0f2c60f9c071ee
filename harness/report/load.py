"""What the report shows of rate sweeps: the context for harness/templates/load.md.j2 and its charts.

The report calls `load_report_context(cells)` with its cells (the latest complete run per platform,
stack and workload) and renders the partial with the returned mapping; `load_charts(cells, out)`
draws the charts as the report's own charts are drawn (PNG files plus base64 for the HTML page).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness.analysis.load_projection import ASSUMPTIONS, project_sweep  # noqa: E402
from harness.model.record import LoadResult, LoadStep, RunRecord  # noqa: E402
from harness.report.charts import save_chart  # noqa: E402

if TYPE_CHECKING:
    from harness.store.cells import Cell, CellKey

# Rates the seed document's throughput claims speak of ("thousands of tasks per second"), for the
# "what a claimed rate would need" sentence: cores = rate x CPU-seconds per task.
CLAIMED_RATES = (1000, 5000)


def sweep_cells(cells: dict[CellKey, Cell]) -> dict[CellKey, RunRecord]:
    return {k: c.record for k, c in sorted(cells.items()) if c.record.load is not None}


def load_report_context(cells: dict[CellKey, Cell]) -> dict[str, Any]:
    """`load_rows`: one row per platform, stack and sweep workload (maximum sustainable throughput,
    CPU-ms per task, memory, where and why it stopped, the generator's ceiling); `load_steps`: the
    step data behind each row."""
    rows, steps = [], []
    for (platform, label, workload), record in sweep_cells(cells).items():
        load = record.load
        rows.append(_row(platform, label, workload, record, load))
        steps += [_step_row(platform, label, workload, s) for s in load.steps]
    return {"load_rows": rows, "load_steps": steps, "load_assumptions": list(ASSUMPTIONS)}


def _row(platform: str, label: str, workload: str, record: RunRecord, load: LoadResult) -> dict[str, Any]:
    mst = load.max_sustainable_per_s
    bound = "≥ " if load.max_sustainable_is_lower_bound and mst is not None else ""
    needs = []
    if load.cpu_ms_per_task:
        for rate in CLAIMED_RATES:
            got = project_sweep(load, rate)  # the claims' projection (harness/analysis/load_projection.py)
            needs.append(
                f"{rate:,} tasks/s at {load.cpu_ms_per_task:.2f} CPU-ms per task needs at least "
                f"{rate * load.cpu_ms_per_task / 1000:.1f} cores of this kind"
                + (f" ({got.breakdown()}, from the {got.measured_at_per_s:g} runs/s step)" if got else "")
            )
    return {
        "platform": platform,
        "variant": label,
        "workload": workload,
        "run_id": record.run_id,
        "mst": f"{bound}{mst:g}/s"
        if mst is not None
        else ("not determined" if load.max_sustainable_is_lower_bound else "none sustained"),
        "cpu_ms_per_task": load.cpu_ms_per_task,
        "memory_growth_mb": load.memory_growth_mb,
        "memory_growth_of": _memory_basis(load),
        "saturated_at": load.saturated_at_per_s,
        "stop_reason": load.stop_reason or "",
        "ceiling": load.generator_ceiling_per_s,
        "ceiling_note": load.generator_ceiling_note or "",
        "load_workers": load.load_workers,
        "worker_processes": load.worker_processes,
        "worker_slots": load.worker_slots,
        "state": load.state,
        "needs": needs,
        "retry": load.retry,
        "generator_setup": " | ".join(sorted({s.generator_setup for s in load.steps if s.generator_setup})),
    }


def _memory_basis(load: LoadResult) -> str:
    """PSS or RSS: what the step behind the row's memory growth measured (older runs: RSS)."""
    best = next((s for s in load.steps if not s.warmup and s.rate_per_s == load.max_sustainable_per_s), None)
    return ((best and best.memory_growth_of) or "rss").upper()


def _step_row(platform: str, label: str, workload: str, s: LoadStep) -> dict[str, Any]:
    lat = s.latency_ms.get("intended_to_start")
    send = s.latency_ms.get("send_to_start")
    eng = s.latency_ms.get("engine_queue_to_start")
    return {
        "platform": platform,
        "variant": label,
        "workload": workload,
        "phase": s.phase,
        "warmup": s.warmup,
        "rate": s.rate_per_s,
        "sent": s.sent_per_s,
        "achieved": s.achieved_per_s,
        "p50": lat.p50_ms if lat else None,
        "p90": lat.p90_ms if lat else None,
        "p99": lat.p99_ms if lat else None,
        "max": lat.max_ms if lat else None,
        "send_p99": send.p99_ms if send else None,
        "engine_p50": eng.p50_ms if eng else None,
        "engine_n": s.engine_sampled,
        "backlog_slope": s.backlog_slope_per_s,
        "errors": s.errors,
        "retried": s.retried,
        "lag_p99": s.generator_lag_p99_ms,
        "cpu_ms_per_task": s.cpu_ms_per_task,
        "memory_growth_mb": s.memory_growth_mb,
        "verdict": s.verdict,
        "reasons": "; ".join(s.reasons),
    }


def load_charts(cells: dict[CellKey, Cell], out: Path) -> list[dict]:
    """Per sweep workload: p50 and p99 scheduling latency (intended-time corrected) against offered
    rate, and achieved against offered rate; all platforms on one chart, log scales, the generator's
    ceiling drawn on both."""
    by_workload: dict[str, list[tuple[str, LoadResult]]] = {}
    for (platform, label, workload), record in sweep_cells(cells).items():
        by_workload.setdefault(workload, []).append((f"{platform} ({label})", record.load))
    charts = []
    for workload, series in sorted(by_workload.items()):
        fig = _sweep_chart(series)
        charts.append(
            save_chart(
                fig, out, f"load-{workload}", f"{workload}: scheduling latency and achieved rate against offered rate"
            )
        )
    return charts


def _sweep_chart(series: list[tuple[str, LoadResult]]):
    fig, (lat_ax, rate_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    ceilings = []
    for label, load in series:
        steps = [s for s in load.steps if not s.warmup and s.latency_ms.get("intended_to_start")]
        rates = [s.rate_per_s for s in steps]
        (line,) = lat_ax.plot(
            rates, [s.latency_ms["intended_to_start"].p50_ms for s in steps], marker="o", label=f"{label} p50"
        )
        lat_ax.plot(
            rates,
            [s.latency_ms["intended_to_start"].p99_ms for s in steps],
            marker="^",
            linestyle="--",
            color=line.get_color(),
            label=f"{label} p99",
        )
        rate_ax.plot(rates, [s.achieved_per_s or 0 for s in steps], marker="o", color=line.get_color(), label=label)
        if load.generator_ceiling_per_s:
            ceilings.append(load.generator_ceiling_per_s * load.load_workers)
    top = max([s.rate_per_s for _, load in series for s in load.steps] or [1])
    rate_ax.plot([1, top], [1, top], color="grey", linewidth=0.8, label="achieved = offered")
    for ax in (lat_ax, rate_ax):
        for c in sorted(set(ceilings)):
            ax.axvline(c, color="red", linestyle=":", linewidth=1, label=f"generator ceiling {c:,.0f}/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered workflow runs/s (log)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    lat_ax.set_ylabel("intended -> first task start, ms (log)")
    rate_ax.set_ylabel("achieved runs/s (log)")
    fig.tight_layout()
    return fig
