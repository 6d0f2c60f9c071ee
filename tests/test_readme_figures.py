"""The README's counts come from `bench claims` on the committed results, never from a hand."""

from harness.tools import readme_figures


def test_the_readme_figures_are_those_the_committed_results_give():
    assert readme_figures.stale() == [], "stale README blocks: run `make readme`"


def test_a_block_is_rewritten_between_its_markers_and_nothing_else(tmp_path):
    text = (
        "a\n<!-- generated: x -->\nold\n<!-- /generated: x -->\n"
        "b\n<!-- generated: y -->\nkept\n<!-- /generated: y -->\n"
    )
    out = readme_figures.render(text, {"x": "new\n"})
    assert out == text.replace("old\n", "new\n")
