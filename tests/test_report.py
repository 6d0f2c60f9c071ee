"""The report reads runs through the record: judged by what each run recorded, busy repetitions flagged."""
import json

from harness import analysis, report
from harness.platforms.base import EngineTask, EngineWorkflow, WorkflowRequest
from harness.record import MachineState, Setup
from harness.results import Redactor, RunRecorder
from harness.spec import TaskSpec, Workload

from .record_factory import make_record

T0 = 1_790_000_000_000_000_000
WL = Workload(name="latency-probe", shape="chain", tasks=1, task=TaskSpec(op="noop", n=0), runs=3, warmup=0,
              repetitions=2)


def measured_run(root, platform, run_id, *, busy_rep=None, **fields):
    rec = RunRecorder(make_record(platform, run_id, WL.name, kind=fields.pop("kind", "production"),
                                  setup=Setup(start_to_ready_s=1.0, deploy_s=0.5, long_running_services=2),
                                  **fields), Redactor(), root=root)
    tasks, workflows = [], []
    for rep in range(WL.repetitions):
        subs, stamps, engine = [], [], {}
        for i in range(WL.runs):
            t = T0 + rep * 10**9 + i * 10**7
            req = WorkflowRequest(f"{run_id}-{rep}-{i}", "chain", 1, "noop", 0)
            subs.append(analysis.Submission(req, None, t, t + 3_000_000, "completed"))
            stamps.append({"workflow_id": req.workflow_id, "index": 0, "pid": 1, "body_start_ns": t + 1_000_000,
                           "body_end_ns": t + 2_000_000})
            engine[req.workflow_id] = EngineWorkflow("completed", t, t + 500_000, t + 2_500_000,
                                                     [EngineTask(0, t, t + 100, t + 900_000, t + 2_000_000)])
        done = analysis.assemble(rep, f"rep-{rep + 1}", False, WL, subs, stamps, engine)
        verdict = done.repetition
        if rep == busy_rep:
            verdict.machine_state = MachineState(duration_s=0.1, load_avg_1m_start=1.0, load_avg_1m_end=2.5,
                                                 steal_pct=12.0, busy=True, busy_reason="CPU steal 12.0%")
        rec.record.repetitions.append(verdict)
        tasks += done.task_rows
        workflows += done.workflow_rows
    rec.write_table("tasks", tasks)
    rec.write_table("workflows", workflows)
    rec.finish("complete")
    return rec


def test_assemble_judges_a_clean_repetition():
    req = WorkflowRequest("w", "chain", 2, "noop", 0)
    stamps = [{"workflow_id": "w", "index": i, "pid": 1, "body_start_ns": T0 + 10 * i + 1,
               "body_end_ns": T0 + 10 * i + 5} for i in range(2)]
    wl = Workload(name="w", shape="chain", tasks=2, runs=1)
    done = analysis.assemble(0, "rep-1", False, wl, [analysis.Submission(req, None, T0, T0 + 50, "completed")],
                             stamps, {"w": EngineWorkflow("completed", tasks=[EngineTask(0, queued_ns=T0),
                                                                                EngineTask(1, queued_ns=T0)])})
    assert done.repetition.status == "ok" and done.repetition.tasks_completed == 2
    assert done.repetition.engine_anomalies.missing_start == 2  # queued, but no start time recorded
    assert done.task_rows[1]["body_start_ns"] == T0 + 11 and done.workflow_rows[0]["done_ns"] == T0 + 50


def test_engine_records_that_could_not_be_read_fail_the_repetition():
    req = WorkflowRequest("w", "chain", 1, "noop", 0)
    stamps = [{"workflow_id": "w", "index": 0, "pid": 1, "body_start_ns": T0 + 1, "body_end_ns": T0 + 2}]
    wl = Workload(name="w", shape="chain", tasks=1, runs=1)
    broken = EngineWorkflow("completed", records_error="HTTP 500")
    done = analysis.assemble(0, "rep-1", False, wl, [analysis.Submission(req, None, T0, T0 + 5, "completed")],
                             stamps, {"w": broken}, failure=None)
    assert done.repetition.status == "failed"
    assert "w: engine records unavailable: HTTP 500" in done.repetition.reasons
    timed_out = analysis.assemble(0, "rep-1", False, wl, [], [], {}, failure="w not complete within 5s")
    assert timed_out.repetition.reasons[0] == "w not complete within 5s"
    assert timed_out.repetition.throughput_tasks_per_s is None


def test_report_flags_busy_repetitions_and_shows_the_wait_interval(tmp_path):
    measured_run(tmp_path, "hatchet", "h1", busy_rep=1, wait_poll_s=0.05)
    measured_run(tmp_path, "temporal", "t1")
    md, html = report.render(tmp_path)
    text = md.read_text()
    assert "| hatchet | native default | 2/0 |" in text
    assert "| hatchet | native default | polls every 50 ms |" in text
    assert "| temporal | native default | the SDK long-polls or streams the result (no interval) |" in text
    assert "| hatchet | native default | latency-probe | rep-2 | CPU steal 12.0% | 12.0 | 2.50 |" in text
    assert "| 1 |\n" in text  # the hatchet row counts its busy repetition
    # seed platforms without a run are named with why, from the registry
    assert "- windmill (its server is published only as a container image" in text
    assert "- kestra (natively: " in text and "its compose stack needs a Docker engine)" in text
    assert "- prefect (no complete run in these results)" in text


def test_an_unreadable_run_is_listed_not_a_crash(tmp_path):
    measured_run(tmp_path, "hatchet", "h1")
    bad = tmp_path / "prefect" / "broken"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text(json.dumps({"schema_version": 9}))
    text = report.render(tmp_path)[0].read_text()
    assert "| prefect | ? | broken | unreadable |" in text and "schema_version 9" in text


def test_claims_judge_the_deployment_the_run_recorded(tmp_path):
    # the same platform once as a development server, once production-shaped and marked the default variant
    measured_run(tmp_path, "hatchet", "dev", kind="development", variant="dev", default_variant=False)
    measured_run(tmp_path, "hatchet", "prod", variant="postgres", default_variant=True)
    cells, _ = report.collect(tmp_path)
    chosen = report.claim_cells(cells)
    assert chosen[("hatchet", "latency-probe")].run_id == "prod"
    assert {k[1] for k in cells} == {"native dev", "native postgres"}
