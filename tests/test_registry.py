"""The platform registry: every stacks/<name>/platform.yaml, and nothing else, defines the platforms."""

import json
import shutil
from importlib import import_module

import pytest
import yaml

from harness import platforms as registry
from harness.cli import doctor
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT, STACKS_DIR
from harness.platforms.base import Adapter
from harness.platforms.null import NullAdapter
from harness.stack import backends

from . import test_conformance as conformance  # its checks, run on a platform added here
from .conftest import bench, small, stacks_with

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "bench-compose.yml"
NO_ENGINE = lambda: "no Docker engine answers (test)"  # noqa: E731
ENGINE = lambda: None  # noqa: E731


class LabAdapter(NullAdapter):
    """A platform that exists only in a temporary stacks folder (see stacks_with); its name is the
    registry's (its folder's), so the class does not say it."""


def compose_platforms(root=None) -> list[str]:
    return [name for name, info in registry.platforms(root).items() if info.has_compose]


def workflow_matrix(stacks=None) -> list[str]:
    """What the workflow's `platforms` job gives its matrix, by running that job's command here."""
    import os
    import subprocess
    import tempfile

    step = yaml.safe_load(WORKFLOW.read_text())["jobs"]["platforms"]["steps"][-1]["run"]
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(
            ["bash", "-c", step],
            cwd=(stacks or STACKS_DIR).parent,
            check=True,
            env={**os.environ, "GITHUB_OUTPUT": out.name},
        )
        key, _, value = out.read().strip().partition("=")
    assert key == "list"
    return json.loads(value)


def test_every_stacks_folder_is_a_registered_platform():
    folders = sorted(p.name for p in STACKS_DIR.iterdir() if p.is_dir())
    assert sorted(registry.platforms()) == folders, "every stacks/<name>/ has a platform.yaml"
    assert list(registry.platforms())[:5] == ["null", "prefect", "temporal", "temporal-dev", "hatchet"]
    assert registry.seed_platforms() == ["prefect", "temporal", "hatchet", "kestra", "windmill"]
    assert registry.ORCHESTRATORS == [n for n in registry.platforms() if n != "null"]
    assert registry.get("temporal-dev").represents == "temporal" and registry.get("null").in_process


@pytest.mark.parametrize("name", list(registry.platforms()))
def test_each_adapter_imports_and_names_its_platform(name):
    info = registry.get(name)
    cls = registry.adapter_class(name)
    assert issubclass(cls, Adapter) and cls.name == name and cls().name == name
    module, _, attr = info.adapter.partition(":")
    assert getattr(import_module(module), attr).name == name, "used directly, the class finds its name too"
    assert info.description, "bench list shows it"
    assert bool(info.native_missing) == (not info.has_native and not info.in_process)


def test_github_matrix_is_the_platforms_with_a_compose_stack():
    matrix = yaml.safe_load(WORKFLOW.read_text())["jobs"]["bench"]["strategy"]["matrix"]["platform"]
    assert matrix == "${{ fromJSON(needs.platforms.outputs.list) }}", "the matrix comes from the platforms job"
    assert sorted(workflow_matrix()) == sorted(compose_platforms()), (
        f"{WORKFLOW.relative_to(REPO_ROOT)}: the platforms job must list {compose_platforms()}"
    )


def test_unknown_platform_lists_the_known_ones_in_order():
    with pytest.raises(
        BenchError,
        match=r"^unknown platform 'dagster'; known: null, prefect, temporal, "
        r"temporal-dev, hatchet, kestra, windmill(, airflow)?$",
    ):
        registry.get("dagster")


GOOD = "order: 5\nadapter: harness.platforms.null:NullAdapter\nkind: harness\nrepresents: null\nnative_missing: null\n"


@pytest.mark.parametrize(
    "text,expected",
    [
        (GOOD + "endpoints: []\n", "unknown key 'endpoints'"),
        (GOOD.replace("adapter: harness.platforms.null:NullAdapter\n", ""), "adapter: Field required"),
        (GOOD.replace("kind: harness", "kind: orchestrator"), "kind: Input should be 'seed', 'reference' or 'harness'"),
        (GOOD.replace("order: 5", "order: first"), "order: Input should be a valid integer"),
        (
            GOOD.replace("NullAdapter", "Null Adapter"),
            "adapter: 'harness.platforms.null:Null Adapter' is not module:Class",
        ),
        (GOOD.replace("represents: null", "represents: bogus"), "represents: null exactly for kind harness"),
        (
            GOOD.replace("kind: harness", "kind: seed").replace("represents: null", "represents: bogus"),
            "kind: a seed or reference platform needs native.yaml or compose.yaml",
        ),
        (GOOD + "chaos_default: maybe\n", "chaos_default: Input should be a valid boolean"),
        (GOOD + "recovery_defaults: none\n", "recovery_defaults: Input should be a valid list"),
        (GOOD + "seed_matrix: {column: X, position: 1}\n", "seed_matrix.claims: Field required"),
        (GOOD + "seed_matrix: {column: X, position: 1, claims: {}}\n", "seed_matrix: only a seed-document platform"),
        ("order: [\n", "malformed YAML"),
        ("- a list\n", "a platform.yaml must be a YAML mapping"),
    ],
)
def test_a_malformed_platform_yaml_is_one_line_naming_file_and_field(tmp_path, text, expected):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "platform.yaml").write_text(text)
    with pytest.raises(BenchError) as err:
        registry.platforms(tmp_path)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{tmp_path / 'broken' / 'platform.yaml'}: ") and expected in line, line


def test_cross_file_and_folder_rules(tmp_path):
    airflow = tmp_path / "airflow"
    airflow.mkdir()
    (airflow / "compose.yaml").write_text("services: {}\n")
    text = "order: 70\nadapter: tests.test_registry:LabAdapter\nkind: reference\nrepresents: {r}\nnative_missing: {m}\n"
    (airflow / "platform.yaml").write_text(text.format(r="airflow", m="null"))
    with pytest.raises(
        BenchError, match=r"airflow/platform.yaml: native_missing: required when there is no native.yaml"
    ):
        registry.platforms(tmp_path)
    (airflow / "platform.yaml").write_text(text.format(r="prefect", m="no jar"))
    with pytest.raises(BenchError, match=r"airflow/platform.yaml: represents: 'prefect' is not a registered platform"):
        registry.platforms(tmp_path)
    (airflow / "platform.yaml").write_text(text.format(r="airflow", m="no jar"))
    assert registry.platforms(tmp_path)["airflow"].has_compose, "an edited file is read again"


def _add_flyte(root):
    """What adding a reference platform takes: its folder, nothing else (its adapter is a stand-in)."""
    (root / "flyte").mkdir()
    (root / "flyte" / "compose.yaml").write_text("services: {}\n")
    (root / "flyte" / "platform.yaml").write_text(
        "order: 80\nadapter: tests.test_registry:LabAdapter\nkind: reference\nrepresents: flyte\n"
        "native_missing: not measured natively in this test\ndescription: the reference platform\n"
    )


def test_a_platform_registers_itself_from_its_folder_alone(tmp_path, monkeypatch):
    root = stacks_with(tmp_path / "stacks", monkeypatch, in_process={"lab": "tests.test_registry:LabAdapter"})
    _add_flyte(root)
    assert list(registry.platforms())[-2:] == ["flyte", "lab"]
    assert registry.ORCHESTRATORS[-1] == "flyte" and "lab" not in registry.ORCHESTRATORS
    assert "flyte" not in registry.seed_platforms(), "a reference platform is not one of the seed document's"
    lab, flyte = registry.adapter_class("lab"), registry.adapter_class("flyte")
    assert issubclass(lab, LabAdapter) and (lab.name, flyte.name) == ("lab", "flyte"), "one class, two platforms"
    assert registry.adapter_class("lab") is lab
    with pytest.raises(BenchError, match=r"LabAdapter is the adapter of flyte, lab: ask .*adapter_class"):
        LabAdapter.name
    flyte = registry.get("flyte")
    with pytest.raises(backends.BackendUnavailable, match="natively: not measured natively in this test"):
        backends.resolve("auto", flyte, NO_ENGINE)
    assert backends.resolve("auto", flyte, ENGINE) == "compose" and doctor.runnable("flyte", "compose", ENGINE)
    assert "flyte" in workflow_matrix(root), "the workflow's matrix picks up a new compose platform by itself"


def test_a_registered_platform_runs_end_to_end(tmp_path, monkeypatch):
    from harness.run.driver import RunOptions, run

    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"lab": "tests.test_registry:LabAdapter"})
    path = run(RunOptions("lab", small("latency-probe", runs=2, repetitions=1), results_root=tmp_path / "results"))
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete" and doc["platform"] == "lab"


def test_the_cli_lists_a_platform_added_by_its_folder(tmp_path, monkeypatch):
    root = stacks_with(tmp_path / "stacks", monkeypatch, in_process={"lab": "tests.test_registry:LabAdapter"})
    _add_flyte(root)
    monkeypatch.setenv("COLUMNS", "200")
    listed = bench("list", results=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "flyte" in listed.stdout and "reference" in listed.stdout and "lab" in listed.stdout
    done = bench("run", "nope", "latency-probe", results=tmp_path)
    assert done.returncode == 1 and "hatchet, kestra, windmill, airflow, flyte, lab" in done.stderr


def test_the_seed_documents_matrix_and_the_platform_defaults_come_from_the_platform_files():
    from harness.report import matrix

    assert list(matrix.doc_columns().items()) == [
        ("prefect", "Prefect"),
        ("temporal", "Temporal"),
        ("kestra", "Kestra"),
        ("hatchet", "Hatchet"),
        ("windmill", "Windmill"),
    ], "the document's order, not `order`'s"
    words = matrix.doc_words()
    assert [words[p]["Scaling Model"] for p in matrix.doc_columns()] == [
        "Horizontal",
        "Service-level",
        "Horizontal",
        "High-throughput",
        "Auto-scaling",
    ]
    assert all(list(w) == list(matrix.ROWS) for w in words.values())
    from harness.model.registry import chaos_platform, recovery_defaults

    assert registry.get("temporal-dev").recovery_defaults is None, "it says nothing of its own"
    assert recovery_defaults("temporal-dev") == recovery_defaults("temporal") != []
    assert recovery_defaults("null") == [] and recovery_defaults("gone") == []
    assert chaos_platform() == "temporal-dev"


def test_a_second_chaos_default_or_matrix_column_names_both_files(tmp_path):
    for name, extra in (("a", "chaos_default: true\n"), ("b", "chaos_default: true\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "platform.yaml").write_text(GOOD + extra)
    with pytest.raises(BenchError, match=r"b/platform.yaml: chaos_default: True is given by .*a/platform.yaml too"):
        registry.platforms(tmp_path)


def test_a_matrix_word_for_an_aspect_the_report_has_no_row_for_is_one_line(tmp_path, monkeypatch):
    from harness.report import matrix

    root = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR / "prefect", root / "prefect")
    text = (root / "prefect" / "platform.yaml").read_text()
    (root / "prefect" / "platform.yaml").write_text(text.replace("    Monitoring:", "    Monitorring:"))
    monkeypatch.setenv("BENCH_STACKS_DIR", str(root))
    with pytest.raises(BenchError) as err:
        matrix.doc_words()
    assert str(err.value).startswith(
        f"{root / 'prefect' / 'platform.yaml'}: seed_matrix.claims: "
        f"missing aspect 'Monitoring' (the rows are: Setup Complexity, "
    ), err.value


THROWAWAY = '''"""A platform added by a test: this module and its stacks folder are all there is of it."""
from harness.platforms.null import NullAdapter


class ThrowawayAdapter(NullAdapter):
    """The null engine again; nothing here names the platform (the registry does)."""
'''


@pytest.mark.parametrize("workload", list(conformance.SHAPES))
def test_adding_a_platform_is_its_folder_plus_its_adapter(tmp_path, monkeypatch, workload):
    """A stacks root holding null and a platform written here (its folder, and its adapter in a module
    of its own): the registry lists it, and the conformance suite passes on it as it is."""
    root, adapters = tmp_path / "stacks", tmp_path / "adapters"
    shutil.copytree(STACKS_DIR / "null", root / "null")
    (root / "throwaway").mkdir()
    (root / "throwaway" / "platform.yaml").write_text(
        "order: 5\nadapter: throwaway_adapter:ThrowawayAdapter\nkind: harness\nrepresents: null\n"
        "native_missing: null\ndescription: added by a test\n"
    )
    adapters.mkdir()
    (adapters / "throwaway_adapter.py").write_text(THROWAWAY)
    monkeypatch.syspath_prepend(str(adapters))
    monkeypatch.setenv("BENCH_STACKS_DIR", str(root))
    needed = sorted(str(f.relative_to(tmp_path)) for f in [*(root / "throwaway").rglob("*"), *adapters.iterdir()])
    print(f"the throwaway platform needed {len(needed)} files: {', '.join(needed)}")
    assert needed == ["adapters/throwaway_adapter.py", "stacks/throwaway/platform.yaml"]
    assert list(registry.platforms()) == ["null", "throwaway"]
    assert registry.adapter_class("throwaway").name == "throwaway", "the registry names it"
    conformance.test_platform_runs_a_standard_workload(tmp_path / "results", "throwaway", workload)
