"""Every generated block of README.md and docs/, written between markers so that no count, table or
figure is typed by hand: `make docs-figures` (python -m harness.tools.docs_figures) rewrites them,
tests/test_docs_figures.py fails when one is stale.

A block is `<!-- generated: NAME -->` ... `<!-- /generated: NAME -->`; what lies between is replaced
with what BLOCKS[NAME] gives from results/, claims/claims.yaml, stacks/ and workloads/.
"""

from __future__ import annotations

import re
import sys
from functools import cached_property
from pathlib import Path
from typing import Callable

from harness.claims.model import load as load_claims
from harness.model import registry
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT, RESULTS_DIR
from harness.tools import docs_results, docs_tables

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated: (?P=name) -->)", re.S)


class Generated:
    """Each block's text, computed on first use; results/ is read once for all of them."""

    def __init__(self, results: Path = RESULTS_DIR):
        self.results = results
        self._texts: dict[str, str] = {}

    @cached_property
    def _view(self) -> docs_results.ResultsView:
        return docs_results.ResultsView.read(self.results)

    @cached_property
    def _verdicts(self) -> list:
        return self._view.verdicts(load_claims())

    def makers(self) -> dict[str, Callable[[], str]]:
        fixed: dict[str, Callable[[], str]] = {
            "claims-counts": lambda: docs_results.claims_counts(self._verdicts),
            "verdict-summary": lambda: docs_results.verdict_summary(self._verdicts),
            "headline": lambda: docs_results.headline(self._view),
            "durations": lambda: docs_results.durations(self._view),
            "platforms-table": docs_tables.platforms_table,
            "workloads-table": docs_tables.workloads_table,
            "claims-operationalised": lambda: docs_tables.claims_operationalised(load_claims()),
            "claims-not-measurable": lambda: docs_tables.claims_not_measurable(load_claims()),
        }
        pages = {f"platform-{n}": (lambda n=n: docs_tables.platform_page(n)) for n in registry.platforms()}
        return fixed | pages

    def text(self, name: str) -> str:
        if name not in self._texts:
            makers = self.makers()
            if name not in makers:
                raise BenchError(f"no generator for the block {name!r} (known: {', '.join(sorted(makers))})")
            self._texts[name] = makers[name]()
        return self._texts[name]


def files() -> list[Path]:
    """The files that may hold generated blocks: the README and every docs page."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def render(text: str, generated: Callable[[str], str] | dict[str, str]) -> str:
    """`text` with every block's body replaced by what `generated` gives for its name."""
    get = generated.get if isinstance(generated, dict) else generated

    def fill(m: re.Match) -> str:
        body = get(m.group("name"))
        return m.group(1) + body + m.group(4) if body is not None else m.group(0)

    return _BLOCK.sub(fill, text)


def stale(paths: list[Path] | None = None, results: Path = RESULTS_DIR) -> list[str]:
    """`file: block` for every block whose text differs from what the sources give now."""
    gen, out = Generated(results), []
    for path in paths or files():
        text = path.read_text()
        for m in _BLOCK.finditer(text):
            if m.group("body") != gen.text(m.group("name")):
                out.append(f"{path.relative_to(REPO_ROOT)}: {m.group('name')}")
    return out


def main() -> None:
    gen = Generated()
    try:
        for path in files():
            text = path.read_text()
            fresh = render(text, gen.text)
            if fresh != text:
                path.write_text(fresh)
                print(f"{path.relative_to(REPO_ROOT)}: generated blocks rewritten", file=sys.stderr)
    except BenchError as err:
        sys.exit(f"docs-figures: {err}")


if __name__ == "__main__":
    main()
