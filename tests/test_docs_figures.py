"""The README and the docs site: every generated block is what results/, claims/, stacks/ and
workloads/ give now, the site builds with --strict, and nothing points outside the repository."""

import re
import subprocess

import pytest
import yaml

from harness.model import registry
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.tools import docs_figures

MKDOCS = REPO_ROOT / ".venv" / "bin" / "mkdocs"


def test_every_generated_block_is_what_the_sources_give_now():
    assert docs_figures.stale() == [], "stale generated blocks: run `make docs-figures`"


def test_a_block_is_rewritten_between_its_markers_and_nothing_else():
    text = (
        "a\n<!-- generated: x -->\nold\n<!-- /generated: x -->\n"
        "b\n<!-- generated: y -->\nkept\n<!-- /generated: y -->\n"
    )
    out = docs_figures.render(text, {"x": "new\n"})
    assert out == text.replace("old\n", "new\n")


def test_a_block_without_a_generator_is_one_line_naming_it():
    with pytest.raises(BenchError, match="no generator for the block 'no-such-block'"):
        docs_figures.Generated().text("no-such-block")


def _nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_platform_has_a_generated_page_in_the_nav():
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    for name in registry.platforms():
        page = REPO_ROOT / "docs" / "platforms" / f"{name}.md"
        assert page.is_file(), f"docs/platforms/{name}.md is missing"
        assert f"<!-- generated: platform-{name} -->" in page.read_text()
        assert f"platforms/{name}.md" in nav, f"platforms/{name}.md is not in mkdocs.yml's nav"


def test_the_readme_is_short_and_its_links_resolve_inside_the_repository():
    text = (REPO_ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        path = (REPO_ROOT / target).resolve()
        assert path.is_relative_to(REPO_ROOT) and path.exists(), (
            f"README.md links {target}, which is not in the repository"
        )


def test_no_page_names_a_file_outside_the_repository():
    for path in docs_figures.files():
        assert "../shared/" not in path.read_text(), f"{path.name} names a file outside the repository"


@pytest.mark.skipif(not MKDOCS.is_file(), reason="mkdocs is not installed in .venv")
def test_the_docs_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "platforms" / "temporal.html").is_file()
