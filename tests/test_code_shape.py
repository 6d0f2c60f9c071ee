"""The house limits, kept by a test rather than by memory: modules under 400 lines, functions under 60."""

import ast

import pytest

from harness.model.paths import REPO_ROOT

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SOURCES = sorted([*(REPO_ROOT / "harness").rglob("*.py"), *(REPO_ROOT / "tests").rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_module_and_function_sizes(path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if "harness" in p.parts], ids=lambda p: str(p.relative_to(REPO_ROOT))
)
def test_an_import_inside_a_function_says_why(path):
    """Imports sit at the top of a module; one inside a function is there for a start-up cost (an
    SDK, scipy, the CLI's own start) and says so on its line, `# lazy: <why>`."""
    text = path.read_text()
    lines = text.splitlines()
    silent = [
        f"line {node.lineno}: {lines[node.lineno - 1].strip()}"
        for fn in ast.walk(ast.parse(text))
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(fn)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and "# lazy:" not in lines[node.lineno - 1]
    ]
    assert not silent, silent
