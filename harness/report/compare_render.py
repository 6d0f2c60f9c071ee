"""A Comparison as markdown (for the terminal and notes) and as one self-contained HTML page."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from harness.model.errors import BenchError
from harness.report.compare import Comparison
from harness.report.render import TEMPLATES


def render_markdown(comparison: Comparison) -> str:
    body = TEMPLATES.get_template("compare.md.j2").render(comparison=comparison)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"# bench compare\n\nGenerated {generated}.\n\n{body.strip()}\n"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}th,td{{border:1px solid #ccc;padding:3px 6px}}
th{{background:#f3f3f3}}td{{text-align:right}}td:first-child{{text-align:left}}code{{background:#f6f6f6;padding:0 3px}}
</style></head><body>
{body}
</body></html>
"""


def render_html(comparison: Comparison) -> str:
    """The markdown rendered into a page with no external resource (styles inline, nothing fetched)."""
    import markdown  # lazy: only when the page is rendered

    body = markdown.markdown(render_markdown(comparison), extensions=["tables"])
    title = html.escape(f"bench compare: {comparison.label_a} against {comparison.label_b}")
    return PAGE.format(title=title, body=body)


def write_html(comparison: Comparison, path: Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(comparison))
    except OSError as err:
        raise BenchError(f"{path}: cannot write the HTML page: {err.strerror or err}") from None
    return path
