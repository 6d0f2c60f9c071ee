"""Malformed input to every loader: one line naming the file, never a traceback (hypothesis).

Each loader gets at least 250 generated files: the real file with keys deleted, values of the
wrong type, unknown keys, garbage nested anywhere, the text cut short, or no YAML at all.
"""

import json
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import platforms
from harness.model import spec
from harness.model.errors import BenchError
from harness.model.paths import STACKS_DIR, WORKLOADS_DIR
from harness.model.record import load_record
from harness.stack import compose, definition

EXAMPLES = 250
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True), st.text(max_size=12)
)
garbage = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw, valid: dict):
    """The valid document with one to three mutations, or text that is not the document at all."""
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "truncate", "text"]))
    text = yaml.safe_dump(valid, sort_keys=False)
    if kind == "truncate":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "text":
        return draw(st.text(max_size=200))
    doc = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(garbage)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(garbage)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _one_line(err: BenchError, name: str) -> None:
    message = str(err)
    assert "\n" not in message.strip(), message
    assert name in message, f"the file is named: {message}"


def _valid(path) -> dict:
    return yaml.safe_load(path.read_text())


@FUZZ
@given(text=mutated(_valid(WORKLOADS_DIR / "chain-40x-fib10.yaml")))
def test_workload_files(text):
    try:
        spec.parse(text, source="w.yaml")
    except BenchError as err:
        _one_line(err, "w.yaml")


@pytest.fixture
def stacks(tmp_path, monkeypatch):
    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR / "temporal", root / "fuzzed")
    monkeypatch.setenv("BENCH_STACKS_DIR", str(root))
    return root / "fuzzed"


@FUZZ
@given(text=mutated(_valid(STACKS_DIR / "temporal" / "native.yaml")))
def test_native_stack_files(stacks, text):
    (stacks / "native.yaml").write_text(text)
    try:
        definition.load("fuzzed")
    except BenchError as err:
        _one_line(err, "native.yaml")


@FUZZ
@given(text=mutated(_valid(STACKS_DIR / "temporal" / "compose.yaml")))
def test_compose_stack_files(stacks, text):
    (stacks / "compose.yaml").write_text(text)
    try:
        compose.load("fuzzed")
    except BenchError as err:
        _one_line(err, "compose.yaml")


@FUZZ
@given(text=mutated(_valid(STACKS_DIR / "temporal" / "platform.yaml")))
def test_platform_files(stacks, text):
    (stacks / "platform.yaml").write_text(text)
    try:
        platforms.load_info(stacks / "platform.yaml")
    except BenchError as err:
        _one_line(err, "platform.yaml")


def _a_run_json() -> dict:
    from tests.record_factory import make_record

    return make_record().model_dump(mode="json")


@FUZZ
@given(text=mutated(_a_run_json()))
def test_result_files(tmp_path, text):
    path = tmp_path / "run.json"
    try:
        doc = yaml.safe_load(text)
        path.write_text(json.dumps(doc, default=str) if not isinstance(doc, str) else text)
    except (yaml.YAMLError, ValueError):
        path.write_text(text)
    try:
        load_record(path)
    except BenchError as err:
        _one_line(err, "run.json")


def _loaders(stacks, tmp_path):
    """(file written, what the loader calls it, how the harness reads it) for every YAML loader."""
    from harness.claims import model as claims
    from harness.report import published
    from harness.stack.external import load_config

    return [
        (tmp_path / "w.yaml", "a workload", lambda p: spec.load(str(p))),
        (tmp_path / "study.yaml", "a published study", published.load_study),
        (stacks / "native.yaml", "a native stack file", lambda p: definition.load("fuzzed")),
        (stacks / "compose.yaml", "a compose file", lambda p: compose.load("fuzzed")),
        (stacks / "platform.yaml", "a platform.yaml", platforms.load_info),
        (tmp_path / "external.yaml", "an external config", lambda p: load_config(p, [], "temporal", environ={})),
        (tmp_path / "claims.yaml", "a claims file", claims.load),
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: [unclosed\nb: 1\n", r"{name}: line 2 malformed YAML: "),
        ("- a list\n", r"{name}: {what} must be a YAML mapping$"),
    ],
)
def test_every_loader_words_malformed_input_the_same(stacks, tmp_path, text, expected):
    import re

    for path, what, load in _loaders(stacks, tmp_path):
        path.write_text(text)
        with pytest.raises(BenchError) as err:
            load(path)
        pattern = expected.format(name=re.escape(path.name), what=re.escape(what))
        assert re.search(pattern, str(err.value)), str(err.value)
        _one_line(err.value, path.name)
