"""The README's figures that come from results/ and claims/, written between markers so that no
count is typed by hand: `make readme` rewrites them, tests/test_readme_figures.py fails when one
is stale.

A block is `<!-- generated: NAME -->` ... `<!-- /generated: NAME -->`; what lies between is replaced.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from harness.claims import counts
from harness.claims.table import results_for
from harness.model.paths import REPO_ROOT, RESULTS_DIR

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated: (?P=name) -->)", re.S)


def blocks(results: Path = RESULTS_DIR) -> dict[str, str]:
    """Each generated block's text, from the committed results and the claims file."""
    verdicts = results_for(results)
    c = counts(verdicts)
    rows = "\n".join(f"| {v} | {n} |" for v, n in c.by_verdict.items())
    decided = [r for r in verdicts if r.verdict in ("supported", "contradicted", "inconclusive")]
    with_n = sum(1 for r in decided if r.evidence.n is not None and r.evidence.n >= 5)
    return {
        "claims-counts": f"```\n{c.line()}\n```\n\n| verdict | claims |\n|---|---|\n{rows}\n\n"
        f"Of the {len(decided)} claims with a verdict, {with_n} rest on at least 5 independent runs "
        f"(or experiments) per figure.\n",
    }


def render(text: str, generated: dict[str, str]) -> str:
    def fill(m: re.Match) -> str:
        name = m.group("name")
        return m.group(1) + generated[name] + m.group(4) if name in generated else m.group(0)

    return _BLOCK.sub(fill, text)


def stale(path: Path = README, results: Path = RESULTS_DIR) -> list[str]:
    """The names of the blocks whose text differs from what results/ and claims/ give now."""
    text = path.read_text()
    fresh = render(text, blocks(results))
    have = {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}
    want = {m.group("name"): m.group("body") for m in _BLOCK.finditer(fresh)}
    return [n for n in want if have.get(n) != want[n]]


def main() -> None:
    text = README.read_text()
    README.write_text(render(text, blocks()))
    print(f"{README.name}: generated blocks rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
