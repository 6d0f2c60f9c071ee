"""`bench compare` and the report's side-by-side tables, on result folders written by the real recorder."""

import json

import numpy as np
import pytest

from harness.analysis import runs as analysis
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.model.record import Machine, MachineState, Setup
from harness.model.spec import TaskSpec, Workload
from harness.report import compare, compare_render
from harness.store.results import Redactor, RunRecorder

from .conftest import bench
from .record_factory import MACHINE, make_record

T0 = 1_790_000_000_000_000_000


def chain_repetition(wl, rng, rep, run_id, *, gap_ms, body_ns):
    """One repetition of the chain, assembled: bodies of body_ns after transitions of about gap_ms
    (drawn from rng), and the engine's records of every task."""
    tasks = wl.tasks
    t = T0 + rep * 100 * 10**9
    req = WorkflowRequest(f"{run_id}-{rep}", "chain", tasks, "noop", 0)
    stamps, engine_tasks, end = [], [], t + 1_000_000
    for i in range(tasks):
        gap = int(max(0.05, rng.normal(gap_ms, gap_ms / 10)) * 1e6)
        start = end + gap
        end = start + body_ns
        stamps.append(
            {"workflow_id": req.workflow_id, "index": i, "pid": 1, "body_start_ns": start, "body_end_ns": end}
        )
        engine_tasks.append(EngineTask(i, start - gap // 2, start - gap // 2, start - 1000, end))
    engine = {req.workflow_id: EngineWorkflow("completed", t, t + 500, end + 500_000, engine_tasks)}
    return analysis.assemble(
        rep,
        f"rep-{rep + 1}",
        False,
        wl,
        [analysis.Submission(req, None, t, end + 1_000_000, "completed")],
        stamps,
        engine,
    )


def write_chain_run(
    root,
    platform="prefect",
    run_id="r1",
    *,
    gap_ms=5.0,
    seed=0,
    reps=5,
    tasks=20,
    workload="chain-40x-fib10",
    variant="default",
    backend="native",
    machine: Machine | None = None,
    paths_s: list[float] | None = None,
):
    """A complete run of a chain: transitions of about gap_ms (normal noise), engine records for every
    task; with paths_s, each repetition's engine critical path is stretched to that many seconds."""
    if paths_s:  # short gaps, bodies sized so that each path comes out at the length asked for
        reps, gap_ms = len(paths_s), min(gap_ms, 0.1)
    wl = Workload(
        name=workload, shape="chain", tasks=tasks, task=TaskSpec(op="noop", n=0), runs=1, warmup=0, repetitions=reps
    )
    rng = np.random.default_rng(seed)
    setup = Setup(
        start_to_ready_s=2.0 + rng.normal(0, 0.05), deploy_s=1.0 + rng.normal(0, 0.05), ready_to_first_task_s=0.5
    )
    rec = RunRecorder(
        make_record(platform, run_id, workload, kind="production", variant=variant, backend=backend, setup=setup),
        Redactor(),
        root=root,
    )
    if machine is not None:
        rec.record.machine = machine
    task_rows, wf_rows = [], []
    for rep in range(reps):
        body = int((paths_s[rep] - (tasks - 1) * gap_ms / 1000) * 1e9 / tasks) if paths_s else 100_000
        done = chain_repetition(wl, rng, rep, run_id, gap_ms=gap_ms, body_ns=body)
        rec.record.repetitions.append(done.repetition)
        task_rows += done.task_rows
        wf_rows += done.workflow_rows
    rec.write_table("tasks", task_rows)
    rec.write_table("workflows", wf_rows)
    rec.finish("complete")
    return rec.dir


def _delta(comparison, metric, workload="chain-40x-fib10"):
    cell = next(c for c in comparison.cells if c.workload == workload)
    return next(d for d in cell.deltas if d.metric == metric)


def test_identical_samples_are_not_significant(tmp_path):
    write_chain_run(tmp_path / "old")
    write_chain_run(tmp_path / "new")
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    transition = _delta(comp, "transition")
    assert transition.p_value == 1.0 and transition.delta_text == "~" and transition.ratio == 1.0
    assert transition.n_a == transition.n_b == 5 * 19
    assert comp.regressions() == [] and comp.gate(0) is None
    assert comp.machines == []


def test_a_clear_shift_is_significant_in_the_right_direction(tmp_path):
    write_chain_run(tmp_path / "old", gap_ms=5.0, seed=1)
    write_chain_run(tmp_path / "new", gap_ms=10.0, seed=2)
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    transition = _delta(comp, "transition")
    assert transition.p_value < 1e-6 and transition.significant
    assert transition.change_pct == pytest.approx(100, abs=10) and transition.delta_text.startswith("+")
    assert transition.worse_pct > 0
    throughput = _delta(comp, "throughput")  # slower transitions: fewer tasks per second, a regression too
    assert throughput.higher_is_better and throughput.change_pct < 0 and throughput.worse_pct > 0
    line = comp.gate(50)
    assert line.startswith("regression: prefect (native default) chain-40x-fib10 ") and "p=" in line
    assert comp.gate(500) is None

    back = compare.compare_paths(tmp_path / "new", tmp_path / "old")  # the other way round: an improvement
    assert _delta(back, "transition").change_pct < 0 and _delta(back, "transition").worse_pct < 0
    assert all(d.metric != "transition" for _, d in back.regressions())


def test_few_runs_per_side_cannot_be_significant(tmp_path):
    # Mann-Whitney with 2 + 2 values cannot reach p < 0.05 however far apart they are (benchstat's "~").
    write_chain_run(tmp_path / "old", reps=2, paths_s=[1.0, 1.01])
    write_chain_run(tmp_path / "new", reps=2, paths_s=[2.0, 2.01])
    path = _delta(compare.compare_paths(tmp_path / "old", tmp_path / "new"), "engine_critical_path")
    assert path.ratio == pytest.approx(2.0, rel=0.05) and path.p_value > 0.05 and path.delta_text == "~"


def test_fail_on_regression_exits_3_with_one_line(tmp_path):
    write_chain_run(tmp_path / "old", gap_ms=5.0, seed=1)
    write_chain_run(tmp_path / "new", gap_ms=10.0, seed=2)
    html = tmp_path / "page" / "compare.html"
    done = bench(
        "compare",
        str(tmp_path / "old"),
        str(tmp_path / "new"),
        "--fail-on-regression",
        "20",
        "--html",
        str(html),
        results=tmp_path,
    )
    assert done.returncode == 3, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("html: ")]
    assert len(lines) == 1 and lines[0].startswith("regression: ") and "exceeds --fail-on-regression 20%" in lines[0]
    assert "| transition (ms) |" in done.stdout and "Traceback" not in done.stderr
    page = html.read_text()
    assert "<table>" in page and 'src="http' not in page and 'href="http' not in page


def test_bad_input_is_one_line(tmp_path):
    done = bench("compare", str(tmp_path / "nothing"), str(tmp_path / "nothing"), results=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path / 'nothing'}: no such results folder"
    platform_folder = write_chain_run(tmp_path / "res1").parent
    done = bench("compare", str(platform_folder), str(platform_folder), results=tmp_path)
    assert done.returncode == 1 and "not a results folder but one platform's runs" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no complete run to compare"):
        compare.load_set(tmp_path / "empty")
    run = write_chain_run(tmp_path / "res")
    doc = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**doc, "status": "failed"}))
    with pytest.raises(BenchError, match="the run is failed, not complete"):
        compare.load_set(run)


def _as_version_1(run_dir):
    """Rewrite a run.json in the shape of schema version 1 (before harness/model/record.py)."""
    doc = json.loads((run_dir / "run.json").read_text())
    shape = doc.pop("deployment")
    doc.update(
        schema_version=1, deployment=shape["kind"], variant=shape["variant"], stack_description=shape["description"]
    )
    for rep in doc["repetitions"]:
        rep.pop("machine_state", None)
    (run_dir / "run.json").write_text(json.dumps(doc))


def test_version_1_against_version_2(tmp_path):
    _as_version_1(write_chain_run(tmp_path / "old", seed=3))
    write_chain_run(tmp_path / "new", seed=4)
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    assert [(c.platform, c.stack_a, c.stack_b) for c in comp.cells] == [("prefect", "native default", "native default")]
    assert _delta(comp, "transition").n_a == 95 and _delta(comp, "engine_critical_path").n_b == 5
    assert "| transition (ms) |" in compare_render.render_markdown(comp)


def test_machines_that_differ_are_listed(tmp_path):
    write_chain_run(tmp_path / "old")
    other = MACHINE.model_copy(
        update={"logical_cores": 4, "physical_cores": 4, "cpu_model": "Intel Xeon", "kernel": "6.8", "python": "3.12.3"}
    )
    write_chain_run(tmp_path / "new", machine=other)
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    assert "logical_cores: 2 -> 4" in comp.machines
    assert "cpu_model: AMD EPYC -> Intel Xeon" in comp.machines
    assert {m.split(":")[0] for m in comp.machines} == {
        "cpu_model",
        "logical_cores",
        "physical_cores",
        "kernel",
        "python",
    }
    assert "they differ: cpu_model: AMD EPYC -> Intel Xeon" in compare_render.render_markdown(comp)


def test_two_run_folders_and_two_stacks_side_by_side(tmp_path):
    a = write_chain_run(tmp_path / "a", run_id="ra", variant="sqlite")
    b = write_chain_run(tmp_path / "b", run_id="rb", backend="compose", variant="compose")
    comp = compare.compare_paths(a, b)  # two runs: compared whatever their stacks
    assert [(c.stack_a, c.stack_b, c.run_a, c.run_b) for c in comp.cells] == [("native sqlite", "compose", "ra", "rb")]
    from harness.store.cells import collect

    cells_a, _ = collect(tmp_path / "a")
    cells_b, _ = collect(tmp_path / "b")
    side = compare.side_by_side(cells_a, cells_b, "native", "compose")  # paired by platform and workload
    assert side.only_a == [] and side.only_b == [] and len(side.cells) == 1
    assert side.platforms[0].stack_a == "native sqlite" and side.platforms[0].stack_b == "compose"


def test_cells_only_on_one_side_are_named(tmp_path):
    write_chain_run(tmp_path / "old", platform="prefect")
    write_chain_run(tmp_path / "old", platform="hatchet", run_id="h1")
    write_chain_run(tmp_path / "new", platform="prefect")
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    assert comp.only_a == ["hatchet / native default / chain-40x-fib10"] and comp.only_b == []


def test_verdicts_that_changed_and_claims_that_fail(tmp_path, monkeypatch):
    write_chain_run(tmp_path / "old")
    write_chain_run(tmp_path / "new", run_id="r2")
    verdicts = iter(
        [
            {"c1": ("supported", "x"), "c2": ("not measured", "")},
            {"c1": ("contradicted", "p50 2 ms"), "c2": ("not measured", "")},
        ]
    )
    monkeypatch.setattr(compare, "claim_verdicts", lambda cells: next(verdicts))
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    assert comp.verdicts_compared == 2
    assert [(v.claim, v.a, v.b) for v in comp.verdicts] == [("c1", "supported", "contradicted")]

    def broken(cells):
        raise BenchError("claims/claims.yaml: field platforms: required")

    monkeypatch.setattr(compare, "claim_verdicts", broken)
    comp = compare.compare_paths(tmp_path / "old", tmp_path / "new")
    assert comp.verdict_error == "claims could not be evaluated: claims/claims.yaml: field platforms: required"
    assert "**Claims:** claims could not be evaluated" in compare_render.render_markdown(comp)


def test_mann_whitney_edge_cases():
    assert compare.mann_whitney_p(np.array([]), np.array([1.0])) is None
    assert compare.mann_whitney_p(np.array([3.0, 3.0]), np.array([3.0, 3.0, 3.0])) == 1.0
    d = compare.latency_delta("transition", [1e6, -5.0, float("nan")], [2e6])  # negatives and NaN left out
    assert (d.n_a, d.n_b, d.a, d.b) == (1, 1, 1.0, 2.0)
    missing = compare.per_run_delta("throughput", "throughput", "tasks/s", [], [1.0])
    assert missing.delta_text == "missing" and missing.ratio is None and not missing.significant


def test_repetitions_on_a_busy_machine_are_counted_per_side(tmp_path):
    _as_version_1(write_chain_run(tmp_path / "old"))
    run = write_chain_run(tmp_path / "new")
    doc = json.loads((run / "run.json").read_text())
    for i, rep in enumerate(doc["repetitions"]):
        rep["machine_state"] = MachineState(
            duration_s=1.0, load_avg_1m_start=1.0, load_avg_1m_end=7.5, steal_pct=0.0, busy=i < 2, busy_reason="load"
        ).model_dump()
    (run / "run.json").write_text(json.dumps(doc))
    cell = compare.compare_paths(tmp_path / "old", tmp_path / "new").cells[0]
    assert (cell.busy_a, cell.busy_b) == ("not probed", "2 of 5")


def _committed_run(platform: str, workload: str):
    """The first complete committed run of platform/workload (results/ as the repository holds it)."""
    for run_json in sorted((REPO_ROOT / "results" / platform).glob(f"*-{workload}-*/run.json")):
        doc = json.loads(run_json.read_text())
        if doc["status"] == "complete":
            return run_json.parent, doc
    pytest.skip(f"no complete committed {platform}/{workload} run")


def test_a_temporal_run_against_a_temporal_dev_run_names_each_side_from_its_own_record():
    (dir_a, doc_a), (dir_b, doc_b) = _committed_run("temporal", "idle-60s"), _committed_run("temporal-dev", "idle-60s")
    comp = compare.compare_paths(dir_a, dir_b)
    [side] = comp.platforms
    assert (side.platform, side.platform_b) == ("temporal", "temporal-dev")
    assert side.side_a == f"temporal (native, default variant {doc_a['deployment']['variant']})"
    assert side.side_b == f"temporal-dev (native, default variant {doc_b['deployment']['variant']})"
    # every version side B records is found on side B: alike, or differing with B's value, never "–"
    shown = side.versions + side.versions_same
    for name, version in doc_b["versions"].items():
        assert any(
            line.startswith(f"{name} ") and (line.endswith(f"-> {version}") or line == f"{name} {version}")
            for line in shown
        ), (name, shown)
    ready = next(d for d in side.deltas if d.metric == "start_to_ready_s")
    assert ready.delta_text != "missing" and ready.b == pytest.approx(doc_b["setup"]["start_to_ready_s"])
    assert ready.a == pytest.approx(doc_a["setup"]["start_to_ready_s"]) and ready.p_value is None  # one run each
    [cell] = comp.cells
    assert (cell.platform, cell.platform_b, cell.run_b) == ("temporal", "temporal-dev", doc_b["run_id"])
    text = compare_render.render_markdown(comp)
    assert f"### {side.side_a} against {side.side_b}" in text
    assert "temporal (native sqlite)" not in text and "temporal: native postgres against native sqlite" not in text
    assert "#### temporal · idle-60s against temporal-dev · idle-60s" in text
