import pytest

from harness.model import spec
from harness.model.errors import BenchError


def test_every_shipped_workload_validates():
    names = spec.available()
    assert {"latency-probe", "chain-40x-fib10", "chain-10x-fib33", "fanout-100-noop", "idle-60s"} <= set(names)
    for name in names:
        w = spec.load(name)
        assert w.name == name, "file name and workload name must agree"
        assert w.warmup == (0 if w.shape == "idle" else 1) and w.repetitions >= 1


def test_chain_workloads_match_the_published_study():
    assert (spec.load("chain-40x-fib10").tasks, spec.load("chain-40x-fib10").task.n) == (40, 10)
    assert (spec.load("chain-10x-fib33").tasks, spec.load("chain-10x-fib33").task.n) == (10, 33)


def test_unknown_key_names_file_and_key(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nshape: chain\ntasks: 2\nrepetitons: 3\n")
    with pytest.raises(BenchError, match=r"w\.yaml: unknown key 'repetitons'"):
        spec.load(str(path))


def test_nested_unknown_key(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nshape: chain\ntasks: 2\ntask: {op: fib, m: 3}\n")
    with pytest.raises(BenchError, match=r"unknown key 'task\.m'"):
        spec.load(str(path))


def test_malformed_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\nshape: chain\n")
    with pytest.raises(BenchError) as err:
        spec.load(str(path))
    assert "malformed YAML" in str(err.value) and "\n" not in str(err.value)


def test_invalid_values_rejected(tmp_path):
    for text, needle in [
        ("name: w\nshape: chain\ntasks: 0\n", "tasks >= 1"),
        ("name: w\nshape: idle\n", "duration_s > 0"),
        ("name: w\nshape: spiral\ntasks: 1\n", "shape"),
        ("- a list\n", "mapping"),
    ]:
        path = tmp_path / "w.yaml"
        path.write_text(text)
        with pytest.raises(BenchError, match=needle):
            spec.load(str(path))


def test_unknown_workload_lists_known_ones():
    with pytest.raises(BenchError, match="unknown workload 'nope'; known: .*latency-probe"):
        spec.load("nope")


def test_digest_changes_with_content_not_description():
    a = spec.load("latency-probe")
    b = spec.Workload.model_validate({**a.model_dump(), "description": "other words"})
    c = spec.Workload.model_validate({**a.model_dump(), "runs": a.runs + 1})
    assert a.digest() == b.digest() != c.digest()
