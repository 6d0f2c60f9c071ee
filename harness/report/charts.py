"""The report's charts: latency by percentile, idle memory over time, setup phases (matplotlib, PNG)."""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness.analysis import runs as analysis  # noqa: E402

if TYPE_CHECKING:
    from harness.report.model import SetupRow
    from harness.store.cells import Cell, CellKey


def draw_all(cells: dict[CellKey, Cell], setup_rows: list[SetupRow], out: Path) -> list[dict]:
    """Every chart as a PNG in `out`; each entry has its file name, title and base64 data (for the HTML)."""
    charts = []
    for workload in sorted({k[2] for k in cells}):
        fig = _latency_chart(cells, workload)
        if fig:
            charts.append(
                save_chart(fig, out, f"latency-{workload}", f"{workload}: submit -> first task start, by percentile")
            )
    fig = _resource_chart(cells)
    if fig:
        charts.append(save_chart(fig, out, "resources-idle", "idle-60s: RSS of each service over time"))
    fig = _idle_memory_chart(cells)
    if fig:
        charts.append(save_chart(fig, out, "memory-idle", "idle-60s: mean memory of all services (PSS where sampled)"))
    fig = _setup_chart(setup_rows)
    if fig:
        charts.append(save_chart(fig, out, "setup", "setup phases (seconds)"))
    return charts


def _latency_chart(cells: dict[CellKey, Cell], workload: str):
    series = {}
    for (platform, variant, wl), cell in cells.items():
        if wl != workload:
            continue
        values = analysis.latency_samples(cell.data.tasks, cell.data.workflows, cell.record.ok_measured())[
            "submit_to_first_start"
        ]
        if len(values):
            series[f"{platform} ({variant})"] = sorted(values / 1e6)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, vals in sorted(series.items()):
        n = len(vals)
        ax.plot([100 * (i + 0.5) / n for i in range(n)], vals, marker="." if n < 50 else None, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("ms (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _resource_chart(cells: dict[CellKey, Cell]):
    idle = {k: c for k, c in cells.items() if k[2] == "idle-60s" and not c.data.resources.empty}
    if not idle:
        return None
    fig, axes = plt.subplots(1, len(idle), figsize=(4.2 * len(idle), 3.2), squeeze=False)
    for ax, ((platform, variant, _), cell) in zip(axes[0], sorted(idle.items())):
        r = cell.data.resources
        r = r[r["role"] != "harness"]
        t0 = r["t_ns"].min()
        for service, g in r.groupby("service"):
            ax.plot((g["t_ns"] - t0) / 1e9, g["rss_bytes"] / 2**20, label=service)
        ax.set_title(f"{platform} ({variant})", fontsize=9)
        ax.set_xlabel("s since launch")
        ax.set_ylabel("RSS MB")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _idle_memory_chart(cells: dict[CellKey, Cell]):
    """The matrix's "Resource Requirements" row as bars: each platform's services stacked."""
    bars = {}
    for (platform, variant, wl), cell in sorted(cells.items()):
        rows = [r for r in cell.summary.resources if wl == "idle-60s" and r.kind == "idle" and r.role != "harness"]
        if rows:
            bars[f"{platform} ({variant})"] = {
                r.service: (r.pss_mean_mb if r.pss_mean_mb is not None else r.rss_mean_mb) or 0.0 for r in rows
            }
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(bars)))
    for i, (label, services) in enumerate(bars.items()):
        left = 0.0
        for service, mb in sorted(services.items(), key=lambda kv: -kv[1]):
            ax.barh(label, mb, left=left, color=plt.cm.tab20(zlib.crc32(service.encode()) % 20), edgecolor="white")
            if mb > 25:
                ax.text(left + mb / 2, i, service, ha="center", va="center", fontsize=7)
            left += mb
        ax.text(left, i, f" {left:.0f}", va="center", fontsize=8)
    ax.set_xlabel("MiB")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def _setup_chart(setup_rows: list[SetupRow]):
    medians = [
        ({k: t.median if t else None for k, t in r.times.items()}, f"{r.platform} ({r.variant})") for r in setup_rows
    ]
    medians = [(m, label) for m, label in medians if m["start_to_ready_s"] is not None]
    if not medians:
        return None
    rows = [m for m, _ in medians]
    labels = [label for _, label in medians]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
    left = [0.0] * len(rows)
    for key, label in (
        ("start_to_ready_s", "start -> ready"),
        ("deploy_s", "workers + deploy"),
        ("ready_to_first_task_s", "ready -> first task"),
    ):
        vals = [r.get(key) or 0 for r in rows]
        if key == "ready_to_first_task_s":  # includes deploy; draw only what deploy does not cover
            vals = [max(0.0, v - (r.get("deploy_s") or 0)) for v, r in zip(vals, rows)]
        ax.barh(labels, vals, left=left, label=label)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_chart(fig, out: Path, name: str, title: str) -> dict:
    path = out / f"{name}.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return {"file": path.name, "title": title, "data": base64.b64encode(buf.getvalue()).decode()}
