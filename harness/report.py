"""`bench report`: the latest complete run of each platform/variant/workload, re-analysed from the
raw samples in results/, rendered to markdown and to one self-contained HTML page."""
from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import analysis, claims, stats  # noqa: E402
from .errors import BenchError  # noqa: E402
from .results import iter_runs, load_run  # noqa: E402

TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"), autoescape=False,
                               trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters["f"] = lambda v, fmt=".1f": "–" if v is None or isinstance(v, jinja2.Undefined) else format(v, fmt)


def collect(results: Path) -> tuple[dict, list[dict]]:
    """Latest complete run per (platform, variant, workload); and every run that did not complete."""
    latest: dict[tuple, dict] = {}
    incomplete = []
    for run_dir in iter_runs(results):
        if run_dir.parent.name == "report":
            continue
        doc = json.loads((run_dir / "run.json").read_text())
        key = (doc["platform"], stack_label(doc), doc["workload"]["name"])
        if doc["status"] != "complete":
            incomplete.append({"platform": doc["platform"], "workload": doc["workload"]["name"], "run_id": doc["run_id"],
                               "status": doc["status"], "error": doc.get("error", "")})
            continue
        if key not in latest or doc["started_at"] > latest[key]["started_at"]:
            latest[key] = doc
    cells = {}
    for key, doc in latest.items():
        data = load_run(results / doc["platform"] / doc["run_id"])
        summary = analysis.summarize_tables(doc, data["tasks"], data["workflows"], data["resources"])
        cells[key] = {**doc, "summary": summary, "tables": data}
    return cells, incomplete


def stack_label(doc: dict) -> str:
    """How a run's stack was brought up: "native <variant>", "compose", "external" or "in-process"."""
    backend, variant = doc.get("backend", "native"), doc.get("variant")
    if backend == "native":
        return variant if variant == "in-process" else f"native {variant}"
    return backend


def render(results: Path) -> tuple[Path, Path]:
    cells, incomplete = collect(results)
    if not cells:
        raise BenchError(f"no complete runs under {results}; run `make bench` first")
    out = results / "report"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    charts = _charts(cells, out)
    workloads = sorted({k[2] for k in cells})
    default_cells = _default_variant_cells(cells)
    ctx = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "results": str(results),
        "machines": _machines(cells),
        "workloads": workloads,
        "rows": _rows(cells),
        "setup": _setup_rows(cells),
        "resources": _resource_rows(cells),
        "settings": _settings(cells),
        "claims": claims.evaluate(default_cells),
        "not_measured": _not_measured(cells),
        "incomplete": incomplete,
        "metrics": analysis.LATENCY_METRICS,
        "charts": charts,
    }
    md = out / "report.md"
    md.write_text(TEMPLATES.get_template("report.md.j2").render(**ctx, html=False))
    html = out / "report.html"
    html.write_text(_html(md.read_text(), charts))
    return md, html


def _html(markdown_text: str, charts: list[dict]) -> str:
    """The markdown report as one self-contained page: charts inlined as data URIs."""
    import markdown
    body = markdown.markdown(markdown_text, extensions=["tables"])
    for c in charts:
        body = body.replace(f'src="{c["file"]}"', f'src="data:image/png;base64,{c["data"]}"')
    return HTML_PAGE.replace("{body}", body)


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orchestrator benchmark report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}
img{max-width:100%}code{background:#f6f6f6;padding:0 3px}
</style></head><body>
{body}
</body></html>
"""


def _not_measured(cells: dict) -> list[str]:
    from .backends import has_compose
    from .platforms import NOT_NATIVE
    measured = {k[0] for k in cells}
    out = []
    for p in claims.SEED_PLATFORMS:
        if p in measured:
            continue
        why = NOT_NATIVE.get(p, "no complete run in these results")
        if p in NOT_NATIVE and has_compose(p) and "compose" not in why:
            why = f"natively: {why}; its compose stack needs a Docker engine"
        out.append(f"{p} ({why})")
    return out


def _default_variant_cells(cells: dict) -> dict:
    """For claims: one cell per (platform, workload), preferring each platform's default variant."""
    from .backends import has_native
    from .platforms import REGISTRY, adapter_class
    from .stack import definition
    chosen = {}
    for (platform, variant, workload), cell in cells.items():
        default = None
        if platform in REGISTRY and has_native(adapter_class(platform).stack):
            default = definition.load(adapter_class(platform).stack).default_variant()
        key = (platform, workload)
        if key not in chosen or variant == f"native {default}":
            chosen[key] = cell
    return chosen


def _machines(cells: dict) -> list[dict]:
    seen = {}
    for cell in cells.values():
        m = cell["machine"]
        seen[json.dumps(m, sort_keys=True)] = m
    return list(seen.values())


def _rows(cells: dict) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for (platform, variant, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        s = cell["summary"]
        lat = s["latency_ms"]
        rows.setdefault(workload, []).append({
            "platform": platform, "variant": variant, "backend": cell["backend"], "run_id": cell["run_id"],
            "ok": s["measured_repetitions_ok"], "failed": s["measured_repetitions_failed"],
            "lat": lat, "throughput": s["throughput_tasks_per_s"],
            "p50_spread": s["submit_to_first_start_p50_by_repetition_ms"],
            "anomalies": s.get("engine_anomalies") or {},
        })
    return rows


SETUP_TIMES = ("start_to_ready_s", "deploy_s", "ready_to_first_task_s")


def _setup_rows(cells: dict) -> list[dict]:
    """One row per platform and variant. Every run is one stack lifecycle, so every run is one
    sample of the setup times: the row gives their median and range over the runs shown."""
    groups: dict[tuple, list[dict]] = {}
    for (platform, variant, _), cell in cells.items():
        groups.setdefault((platform, variant), []).append(cell)
    rows = []
    for (platform, variant), runs in sorted(groups.items()):
        latest = max(runs, key=lambda c: c["started_at"])["setup"]
        row = {"platform": platform, "variant": variant, "runs": len(runs), **latest,
               "footprint_mb": (latest.get("footprint_bytes") or 0) / 2**20 or None}
        for key in SETUP_TIMES:
            row[key] = stats.spread([c["setup"].get(key) for c in runs])
        rows.append(row)
    return rows


def _resource_rows(cells: dict) -> list[dict]:
    rows = []
    for (platform, variant, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        for r in cell["summary"]["resources"]:
            if r["kind"] in ("idle", "measured"):
                rows.append({"platform": platform, "variant": variant, "workload": workload, **r})
    return rows


def _settings(cells: dict) -> dict[str, dict]:
    out = {}
    for (platform, variant, _), cell in cells.items():
        out[f"{platform} ({variant})"] = cell.get("settings", {})
    return dict(sorted(out.items()))


# -- charts -----------------------------------------------------------------------------------
def _charts(cells: dict, out: Path) -> list[dict]:
    charts = []
    for workload in sorted({k[2] for k in cells}):
        fig = _latency_chart(cells, workload)
        if fig:
            charts.append(_save(fig, out, f"latency-{workload}", f"{workload}: submit -> first task start, by percentile"))
    fig = _resource_chart(cells)
    if fig:
        charts.append(_save(fig, out, "resources-idle", "idle-60s: RSS of each service over time"))
    fig = _setup_chart(cells)
    if fig:
        charts.append(_save(fig, out, "setup", "setup phases (seconds)"))
    return charts


def _latency_chart(cells: dict, workload: str):
    series = {}
    for (platform, variant, wl), cell in cells.items():
        if wl != workload:
            continue
        t = cell["tables"]
        values = analysis.latency_samples(t["tasks"], t["workflows"], analysis.ok_measured(cell))[
            "submit_to_first_start"]
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


def _resource_chart(cells: dict):
    idle = {k: c for k, c in cells.items() if k[2] == "idle-60s" and not c["tables"]["resources"].empty}
    if not idle:
        return None
    fig, axes = plt.subplots(1, len(idle), figsize=(4.2 * len(idle), 3.2), squeeze=False)
    for ax, ((platform, variant, _), cell) in zip(axes[0], sorted(idle.items())):
        r = cell["tables"]["resources"]
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


def _setup_chart(cells: dict):
    rows = [{**r, **{k: (r[k] or {}).get("median") for k in SETUP_TIMES}} for r in _setup_rows(cells)]
    rows = [r for r in rows if r.get("start_to_ready_s") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
    labels = [f"{r['platform']} ({r['variant']})" for r in rows]
    left = [0.0] * len(rows)
    for key, label in (("start_to_ready_s", "start -> ready"), ("deploy_s", "workers + deploy"),
                       ("ready_to_first_task_s", "ready -> first task")):
        vals = [r.get(key) or 0 for r in rows]
        if key == "ready_to_first_task_s":  # includes deploy; draw only what deploy does not cover
            vals = [max(0.0, v - (r.get("deploy_s") or 0)) for v, r in zip(vals, rows)]
        ax.barh(labels, vals, left=left, label=label)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _save(fig, out: Path, name: str, title: str) -> dict:
    path = out / f"{name}.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return {"file": path.name, "title": title, "data": base64.b64encode(buf.getvalue()).decode()}
