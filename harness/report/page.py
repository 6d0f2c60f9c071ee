"""What the report adds around its tables: the other parts of issue 9 as optional sections, where
each figure comes from (machine, versions, backend, non-default settings), the figures whose spread
is too large to trust, and the markdown turned into one self-contained HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import jinja2

from harness.analysis.fault_table import fault_report_context
from harness.model.record import Machine
from harness.report.compare import side_by_side
from harness.report.load import load_charts, load_report_context
from harness.report.published import published_comparison
from harness.store.cells import claim_cells

if TYPE_CHECKING:
    from harness.report.model import LatencyRow, SetupRow
    from harness.store.cells import Cell, CellKey


def _published(cells: dict[CellKey, Cell], against) -> dict | None:
    return {"published": published_comparison(cells)}


def _load(cells: dict[CellKey, Cell], against) -> dict | None:
    return load_report_context(cells)


def _faults(cells: dict[CellKey, Cell], against) -> dict | None:
    return {"faults": fault_report_context(cells)}


def extra_charts(cells: dict[CellKey, Cell], out) -> list[dict]:
    """Charts other modules draw for their sections (the load sweeps)."""
    return load_charts(cells, out)


def _compare(cells: dict[CellKey, Cell], against: tuple[str, dict] | None) -> dict | None:
    """Another result set given to the report, else, within this one, each platform's other stacks
    (native against compose, default variant against another) beside the stack the claims use."""
    if against:
        return {"comparison": side_by_side(cells, against[1], "this set", against[0])}
    primary = {(r.platform, r.run_id) for r in claim_cells(cells).values()}
    main = {k: c for k, c in cells.items() if (k[0], c.record.run_id) in primary}
    others = {k: c for k, c in cells.items() if k not in main}
    if not others:
        return None
    return {"comparison": side_by_side(main, others, "default stacks", "other stacks")}


# Sections other modules provide: name -> (template, context builder). A builder returns the
# template's context, or None when there is nothing to show.
PARTIALS: dict[str, tuple[str, Callable]] = {
    "published": ("published.md.j2", _published),
    "load": ("load.md.j2", _load),
    "faults": ("faults.md.j2", _faults),
    "compare": ("compare.md.j2", _compare),
}


def partials(
    env: jinja2.Environment, cells: dict[CellKey, Cell], against: tuple[str, dict] | None = None
) -> dict[str, str]:
    """name -> rendered markdown, for every section whose provider and template both exist."""
    out = {}
    for name, (template, build) in PARTIALS.items():
        try:
            tpl = env.get_template(template)
        except jinja2.TemplateNotFound:
            continue
        ctx = build(cells, against)
        if ctx:
            out[name] = tpl.render(**ctx)
    return out


def machine_key(m: Machine) -> str:
    """What identifies a machine: everything but what changes from run to run (frequency, load)."""
    return m.model_dump_json(exclude={"cpu_freq_mhz", "load_avg_1m"})


@dataclass(frozen=True)
class StackProvenance:
    """What every figure of one platform's stack was measured with."""

    platform: str
    stack: str
    backend: str
    deployment: str
    versions: str  # as the runs recorded them; differing sets separated by " / "
    settings: str  # names of the settings that differ from the platform's defaults


@dataclass(frozen=True)
class RunProvenance:
    platform: str
    stack: str
    workload: str
    run_id: str
    link: str
    started: str
    machine: str
    harness: str


def provenance(
    cells: dict[CellKey, Cell], machine_labels: dict[str, str], link: Callable
) -> tuple[list[StackProvenance], list[RunProvenance]]:
    stacks: dict[tuple[str, str], list] = {}
    runs = []
    for (platform, label, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        r = cell.record
        stacks.setdefault((platform, label), []).append(r)
        sha = (r.harness.git_sha or "?")[:10] + (" (dirty)" if r.harness.dirty else "")
        runs.append(
            RunProvenance(
                platform,
                label,
                workload,
                r.run_id,
                link(r),
                r.started_at.strftime("%Y-%m-%d %H:%M"),
                machine_labels[machine_key(r.machine)],
                sha,
            )
        )
    out = []
    for (platform, label), records in stacks.items():
        latest = max(records, key=lambda r: r.started_at)
        versions = dict.fromkeys(", ".join(f"{k} {v}" for k, v in sorted(r.versions.items())) or "–" for r in records)
        names = dict.fromkeys(k for r in records for k in sorted(r.settings))
        d = latest.deployment
        shape = f"{d.kind}: {d.description}" if d.description else d.kind
        if latest.beyond_loopback:  # the one exception to "loopback only", declared with its reason
            shape += "; listening beyond loopback: " + "; ".join(latest.beyond_loopback)
        out.append(
            StackProvenance(
                platform,
                label,
                latest.backend,
                shape,
                " / ".join(versions),
                ", ".join(f"`{k}`" for k in names) or "none",
            )
        )
    return out, runs


def spread_warnings(latency: dict[str, list[LatencyRow]], setup: list[SetupRow]) -> list[str]:
    """Every figure whose repetitions disagree too much (pyperf's rule: cv above 10%), or that rests on
    too few repetitions to judge its spread."""
    out = []
    for workload, rows in sorted(latency.items()):
        for r in rows:
            where = f"{r.platform} ({r.variant}), {workload}"
            if r.ok and r.ok < 3 and workload != "idle-60s":
                out.append(f"{where}: only {r.ok} measured repetition(s) passed; their spread cannot be judged")
            if r.throughput and r.throughput.unstable:
                t = r.throughput
                out.append(
                    f"{where}: throughput {t.median:.1f} tasks/s varies {t.cv:.0%} (cv) across {t.n} "
                    f"repetitions [{t.min:.1f}–{t.max:.1f}]"
                )
            if r.p50_spread and r.p50_spread.unstable:
                s = r.p50_spread
                out.append(
                    f"{where}: submit -> first start p50 varies {s.cv:.0%} (cv) across {s.n} repetitions "
                    f"[{s.min:.2f}–{s.max:.2f} ms]"
                )
            if r.busy:
                out.append(f"{where}: {r.busy} repetition(s) measured while the machine was busy")
    for s in setup:
        for key, t in s.times.items():
            if t and t.unstable:
                out.append(
                    f"{s.platform} ({s.variant}), setup: {key} varies {t.cv:.0%} (cv) across {t.n} runs "
                    f"[{t.min:.2f}–{t.max:.2f} s]"
                )
    return out


VERDICT_CLASSES = (
    "supported",
    "contradicted",
    "inconclusive",
    "not measured",
    "not measurable",
    "not testable",
    "error",
)


def html_page(markdown_text: str, charts: list[dict]) -> str:
    """The markdown report as one self-contained page: charts inlined as data URIs, no external resource."""
    import markdown  # lazy: only when the page is rendered

    body = markdown.markdown(markdown_text, extensions=["tables", "toc"])
    for c in charts:
        body = body.replace(f'src="{c["file"]}"', f'src="data:image/png;base64,{c["data"]}"')
    for v in VERDICT_CLASSES:
        body = body.replace(f"<strong>{v}</strong>", f'<strong class="v-{v.replace(" ", "-")}">{v}</strong>')
    body = body.replace("<table>", '<div class="scroll"><table>').replace("</table>", "</table></div>")
    return HTML_PAGE.replace("{body}", body)


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orchestrator benchmark report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}
img{max-width:100%}code{background:#f6f6f6;padding:0 3px}
.v-supported{color:#176c2b}.v-contradicted{color:#b3261e}.v-inconclusive{color:#8a5a00}
.v-not-measured,.v-not-measurable,.v-not-testable{color:#666}.v-error{color:#fff;background:#b3261e;padding:0 3px}
</style></head><body>
{body}
</body></html>
"""
