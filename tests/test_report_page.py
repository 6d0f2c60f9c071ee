"""The report as a page, in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
opens report.html, and every table and chart must render with no console error and no request
beyond the page itself; a screenshot is saved beside the test's files."""

import os
import shutil
from pathlib import Path

import pytest

from harness.model.paths import RESULTS_DIR
from harness.report import matrix as report_matrix
from harness.report import render as report

from .chromium import Chromium, PageCheck, executable
from .test_report import idle_run, measured_run

# A browser and a full render take more than a few seconds (10 s on an idle 2-core machine, a minute under load).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        executable() is None, reason="chromium is not installed (.ci/run installs it: apt-get install chromium)"
    ),
]
PNG = b"\x89PNG\r\n\x1a\n"


def assert_renders(page: PageCheck, charts: int) -> None:
    assert page.errors == [], page.errors
    assert page.requests == [], f"the page is not self-contained: {page.requests}"
    assert page.tables and all(t["rows"] >= 2 and t["width"] > 0 and t["height"] > 0 for t in page.tables)
    matrix = page.tables[0]  # the seed document's matrix comes first, laid out as in the document
    assert matrix["rows"] == 1 + len(report_matrix.ROWS)
    assert matrix["columns"] >= 1 + len(report_matrix.doc_columns())
    assert len(page.images) == charts
    assert all(i["complete"] and i["width"] > 0 and i["shown"] > 0 for i in page.images), page.images
    assert {"Operational Comparison Matrix", "Claims", "Charts"} <= set(page.headings)


def test_the_page_renders_in_chromium(tmp_path):
    results = tmp_path / "results"
    idle_run(results, "hatchet", "hi", {"engine": ("server", 100), "postgres": ("database", 50)})
    idle_run(results, "temporal", "ti", {"frontend": ("server", 300), "postgres": ("database", 50)})
    measured_run(results, "hatchet", "h1", busy_rep=1)
    measured_run(results, "temporal", "t1")
    _, html = report.render(results)
    with Chromium() as browser:
        page = browser.check(html, tmp_path / "report.png", height=None)
    assert_renders(page, charts=len(list((results / "report").glob("*.png"))))
    assert (tmp_path / "report.png").read_bytes().startswith(PNG)


def test_the_committed_report_renders_in_chromium(tmp_path):
    """The reference set as it is committed (every run recomputed: tens of seconds), rendered into the
    test's folder, results/ untouched; BENCH_REPORT_SCREENSHOT=results/report/report.png keeps a copy
    of the screenshot."""
    if not any(RESULTS_DIR.glob("*/*/run.json")):
        pytest.skip(f"no runs under {RESULTS_DIR}")
    md, html = report.render(RESULTS_DIR, out=tmp_path / "report")
    with Chromium() as browser:
        page = browser.check(html, tmp_path / "report.png")
    assert_renders(page, charts=len(list(md.parent.glob("*.png"))))
    if target := os.environ.get("BENCH_REPORT_SCREENSHOT"):
        shutil.copyfile(tmp_path / "report.png", Path(target))


def test_the_browser_check_sees_errors_and_outside_requests(tmp_path):
    """The checks above would fail on a broken page: a console error, an exception, a missing image."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!doctype html><html><body><table><tr><td>1</td></tr></table><img src="missing.png" alt="x">'
        '<script>console.error("boom"); notDefined();</script></body></html>'
    )
    with Chromium() as browser:
        page = browser.check(bad, tmp_path / "bad.png")
    text = "\n".join(page.errors)
    assert "console.error: ['boom']" in text and "notDefined" in text, text
    assert any(r.endswith("/missing.png") for r in page.requests)
    assert page.images[0]["width"] == 0 and page.tables[0]["rows"] == 1
