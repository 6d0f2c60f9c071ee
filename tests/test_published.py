"""Published reference figures: the committed file validated strictly, our critical path, the comparison."""

import pandas as pd
import pytest
import yaml

from harness.model.errors import BenchError
from harness.report import published
from harness.report.render import TEMPLATES
from harness.store.cells import collect

from .test_compare import write_chain_run

STUDY = published.DEFAULT_STUDY


def test_the_committed_study_loads_and_names_its_source():
    study = published.load_study()
    assert study.source.repository == "windmill-labs/windmill-benchmarks"
    assert study.source.path == "competitors/2026-09/"
    assert set(study.workloads) == {"chain-40x-fib10", "chain-10x-fib33"}
    defaults = {e.engine for e in study.engines if e.config == "default"}
    assert defaults == {"prefect", "temporal", "hatchet", "windmill", "kestra", "airflow"}
    for e in study.engines:  # every default row has both workloads, each with its raw file named
        assert e.config != "default" or set(e.figures) == set(study.workloads)
        assert all(f.file.startswith("results/") for f in e.figures.values())
    prefect = study.default_row("prefect").figures["chain-40x-fib10"]
    assert prefect.median_s == 0.137 and prefect.first_start_ms == 1.0


def _write(tmp_path, doc) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _doc():
    return yaml.safe_load(STUDY.read_text())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d["engines"][0].update(colour="red"), "unknown key 'engines.0.colour'"),
        (lambda d: d["source"].pop("commit"), "source.commit: Field required"),
        (lambda d: d["source"].update(commit="main"), "source.commit: String should match pattern"),
        (
            lambda d: d["engines"][0]["figures"]["chain-40x-fib10"].update(median_s=0.5),
            "median_s 0.5 is not within min_s..max_s",
        ),
        (
            lambda d: d["engines"][0]["figures"]["chain-40x-fib10"].update(median_s=0.136),
            "median_s 0.136 is not the median of runs_s",
        ),
        (
            lambda d: d["engines"][0]["figures"]["chain-40x-fib10"].update(first_start_s=[0.001]),
            "first_start_s needs one value per run",
        ),
        (
            lambda d: d["engines"][0]["figures"].update({"fanout": d["engines"][0]["figures"]["chain-40x-fib10"]}),
            "figures for unknown workload(s) ['fanout']",
        ),
        (lambda d: d["engines"][1].update(row="prefect"), "row names must be unique"),
        (lambda d: d["engines"][2].update(config="default"), "at most one row with config 'default' per engine"),
    ],
)
def test_a_malformed_study_is_one_line_naming_the_file_and_field(tmp_path, mutate, message):
    doc = _doc()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(BenchError) as err:
        published.load_study(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def test_unreadable_and_malformed_yaml(tmp_path):
    with pytest.raises(BenchError, match="cannot read"):
        published.load_study(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(BenchError, match="malformed YAML"):
        published.load_study(tmp_path / "bad.yaml")


def test_critical_path_is_engine_first_start_to_last_finish_per_workflow_run():
    tasks = pd.DataFrame(
        {
            "workflow_id": ["a", "a", "b", "b", "c", "c"],
            "repetition": [1, 1, 1, 1, 2, 2],
            "engine_started_ns": pd.array([10**9, 2 * 10**9, 0, None, 0, 5], dtype="Int64"),
            "engine_finished_ns": pd.array([2 * 10**9, 4 * 10**9, 1, 2, 10**9, 3], dtype="Int64"),
        }
    )
    # a: 1 s -> 4 s; b: a task without an engine start (path unknown); c: a task finished before it started
    assert published.critical_path_s(tasks, {1, 2}).tolist() == [3.0]
    assert published.critical_path_s(tasks, {2}).tolist() == []
    assert published.critical_path_s(pd.DataFrame(), {1}).tolist() == []


def test_published_comparison_sets_ours_beside_theirs_and_ranks(tmp_path):
    # theirs (40 x fib(10)): prefect 0.137 < hatchet 1.237 < temporal 2.995
    write_chain_run(tmp_path, "prefect", "p1", tasks=40, paths_s=[0.14, 0.15, 0.13])
    write_chain_run(tmp_path, "hatchet", "h1", tasks=40, paths_s=[1.3, 1.2, 1.25])
    write_chain_run(tmp_path, "temporal", "t1", tasks=40, paths_s=[1.0, 1.01, 0.99])
    cells, _ = collect(tmp_path)
    result = published.published_comparison(cells)
    table = next(t for t in result.workloads if t.workload == "chain-40x-fib10")
    rows = {r.row.row: r for r in table.rows}
    hatchet = rows["hatchet"]
    assert hatchet.primary.n == 3 and hatchet.primary.median_s == pytest.approx(1.25, abs=0.01)
    assert hatchet.ratio == pytest.approx(1.25 / 1.237, abs=0.01)
    assert rows["windmill"].ours == [] and rows["temporal_tuned"].ours == []  # tuned rows keep their own config
    assert table.ranking.theirs == ["prefect", "hatchet", "temporal"]
    assert table.ranking.ours == ["prefect", "temporal", "hatchet"] and not table.ranking.agree
    reasons = " ".join(table.ranking.reasons)
    assert "history.transferProcessorMaxPollRPS" in reasons and "their temporal_tuned row" in reasons
    assert "theirs 4 vCPU per engine" in reasons and "ours 2 logical cores" in reasons
    other = next(t for t in result.workloads if t.workload == "chain-10x-fib33")
    assert other.ranking.ours == [] and all(not r.ours for r in other.rows)

    page = TEMPLATES.get_template("published.md.j2").render(published=result)
    assert "| windmill | default | process per task | 1.811.1 | 3.443 [3.347–3.447] | not measured here |" in page
    assert (
        "**The rankings disagree.**" in page and "No engine of this study has a complete run of chain-10x-fib33" in page
    )


def test_a_development_server_is_shown_but_does_not_stand_for_its_engine(tmp_path):
    write_chain_run(tmp_path, "temporal-dev", "d1", tasks=40, variant="sqlite", paths_s=[2.0, 2.1, 1.9])
    write_chain_run(tmp_path, "prefect", "p1", tasks=40, paths_s=[0.14, 0.15, 0.13])
    cells, _ = collect(tmp_path)
    for key, cell in cells.items():
        if key[0] == "temporal-dev":
            cell.record.deployment.kind = "development"
    table = published.published_comparison(cells).workloads[0]
    temporal = next(r for r in table.rows if r.row.row == "temporal")
    assert [o.platform for o in temporal.ours] == ["temporal-dev"] and temporal.primary is None
    assert table.ranking.ours == ["prefect"] and table.ranking.agree


def test_a_tuned_variant_stands_beside_their_tuned_row_not_their_default(tmp_path):
    write_chain_run(tmp_path, "airflow", "a1", tasks=40, variant="sqlite", paths_s=[41.0, 42.0, 41.5])
    write_chain_run(tmp_path, "airflow", "a2", tasks=40, variant="tuned", paths_s=[13.0, 12.0, 14.0])
    write_chain_run(tmp_path, "temporal", "t2", tasks=40, variant="tuned", paths_s=[1.0, 1.1, 0.9])
    cells, _ = collect(tmp_path)
    for cell in cells.values():
        cell.record.deployment.default_variant = cell.record.deployment.variant not in ("tuned",)
    table = next(t for t in published.published_comparison(cells).workloads if t.workload == "chain-40x-fib10")
    rows = {r.row.row: r for r in table.rows}
    assert [o.run_id for o in rows["airflow"].ours] == ["a1"] and [o.run_id for o in rows["airflow_tuned"].ours] == [
        "a2"
    ]
    assert rows["airflow_tuned"].ratio == pytest.approx(13.0 / 9.106, abs=0.01)
    assert [o.run_id for o in rows["temporal_tuned"].ours] == ["t2"] and rows["temporal"].ours == []
    assert rows["windmill_dedicated"].ours == [] and table.ranking.ours == ["airflow"]
