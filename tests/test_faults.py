"""Fault outcomes, the runner, the session, and the report's fault table. The fault block, its trigger and
target: test_fault_spec.py."""

import json
import sys
import time

import psutil
import pytest

from harness.analysis.faults import FaultInputs, outcome, repetition_done, warmup_transition_max_ns
from harness.analysis.runs import Submission
from harness.faults.runner import FaultRunner
from harness.model import spec
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.fault_record import CollateralDeath, FaultLog, FaultOperation
from harness.model.record import Repetition
from harness.platforms.null import NullAdapter
from harness.run.driver import RunOptions, run
from harness.stack.native import InProcessStack
from harness.stack.service import ServiceSpec

from .conftest import stacks_with

S = 1_000_000_000
CHAIN = {"name": "f", "shape": "chain", "tasks": 6, "task": {"op": "fib", "n": 20}, "timeout_s": 60}
KILL = {
    "scenario": "worker-kill",
    "action": "kill",
    "target": {"role": "worker"},
    "trigger": {"mid_task": 3, "delay_s": 0.2},
    "undo_after_s": [0, 5],
}


def workload(fault=KILL, **over) -> spec.Workload:
    return spec.Workload.model_validate({**CHAIN, **over, "fault": fault})


# -- stamps, for the outcomes and the runner ----------------------------------------------------------
def stamp(wf, index, start_s, end_s, pid=1):
    return {
        "workflow_id": wf,
        "index": index,
        "body_start_ns": int(start_s * S),
        "body_end_ns": int(end_s * S),
        "pid": pid,
    }


# -- outcomes on synthetic stamps and engine records ---------------------------------------------------
WF = "bench-x-rep-1-0"


def inputs(
    stamps, status="completed", fired=3.2, undone=3.3, attempts=None, wl=None, log=None, done=10.0, engine_starts=True
):
    wl = wl or workload()
    req = WorkflowRequest(WF, wl.shape, wl.tasks, "fib", 20)
    sub = Submission(req, None, 0, int(done * S), status)
    last = {st["index"]: st for st in stamps}
    engine = {
        WF: EngineWorkflow(
            status,
            tasks=[
                EngineTask(
                    i, started_ns=s["body_start_ns"] if engine_starts else None, attempts=(attempts or {}).get(i, 1)
                )
                for i, s in last.items()
            ],
        )
    }
    log = log or FaultLog(
        service="worker",
        role="worker",
        undo_after_s=0.0,
        started_ns=0,
        fired_ns=int(fired * S),
        undone_ns=int(undone * S) if undone is not None else None,
        operations=[
            FaultOperation(
                operation="kill(SIGKILL)", service="worker", start_ns=int(fired * S), end_ns=int(fired * S) + 1000
            )
        ],
    )
    return FaultInputs(
        wl.fault,
        log,
        wl,
        [sub],
        stamps,
        engine,
        warmup_transition_max_ns=int(0.05 * S),
        worker_start_s=1.0,
        platform="temporal",
        settings={},
    )


def chain_stamps(rerun_start, upto=6):
    """Tasks 0-2 end at 1, 2, 3 s; task 3 (interrupted at 3.2 s) runs again from rerun_start."""
    rows = [stamp(WF, i, i + 0.1, i + 1.0) for i in range(3)]
    t = rerun_start
    for i in range(3, upto):
        rows.append(stamp(WF, i, t, t + 0.5))
        t += 0.6
    return rows


def test_a_task_run_again_soon_after_the_replacement_is_reassigned():
    out = outcome(inputs(chain_stamps(4.0), attempts={3: 2}))
    assert out.ran_as_designed and out.behaviour == "reassigned", out.behaviour_detail
    assert (out.tasks_lost, out.tasks_duplicated, out.engine_retried) == (0, 0, 1)
    [task] = out.interrupted
    assert task.index == 3 and task.started_before_fault and task.rerun_start_ns == 4 * S
    assert task.previous_end_ns == 3 * S and "2 attempts" in task.evidence
    assert out.first_completion_after_fault_s == pytest.approx(1.3)
    assert out.throughput.before == pytest.approx(3 / 3.2)
    assert any("retry policy" in line for line in out.decided_by)


def test_started_is_told_from_the_warmups_longest_transition_when_the_engine_cannot():
    out = outcome(inputs(chain_stamps(4.0), engine_starts=False))
    [task] = out.interrupted
    assert task.started_before_fault is True and "longest transition was 0.050s" in task.evidence
    early = outcome(inputs(chain_stamps(4.0), fired=3.01, undone=3.02, engine_starts=False))
    assert early.interrupted[0].started_before_fault is False
    # The engine's one attempt starting after the fault outweighs the timing: it had not started.
    engine_says = outcome(inputs(chain_stamps(4.0)))
    assert engine_says.interrupted[0].started_before_fault is False and engine_says.behaviour == "unaffected"


def test_a_rerun_long_after_the_replacement_is_a_retry_after_a_timeout():
    out = outcome(inputs(chain_stamps(63.2), attempts={3: 2}, done=70))
    assert out.behaviour == "retried-after-timeout"
    assert "ran again 60.0s after the fault" in out.behaviour_detail


def test_a_run_never_final_is_waiting_until_the_timeout_and_its_tasks_are_lost():
    out = outcome(inputs(chain_stamps(0, upto=3), status="timeout", done=90))
    assert out.behaviour == "waited-until-timeout" and out.runs_unfinished == 1
    assert out.tasks_lost == 3 and out.interrupted[0].rerun_start_ns is None
    assert "limit of 60s" in out.behaviour_detail and out.fault_to_end_s == pytest.approx(86.8)


def test_a_failed_run_and_a_lost_task():
    assert outcome(inputs(chain_stamps(0, upto=3), status="failed")).behaviour == "failed-run"
    lost = outcome(inputs(chain_stamps(4.0, upto=5)))
    assert lost.behaviour == "lost" and lost.tasks_lost == 1


def test_a_body_that_survived_a_pause_is_unaffected_and_duplicates_are_named():
    rows = [stamp(WF, i, i + 0.1, i + 1.0) for i in range(3)] + [stamp(WF, 3, 3.1, 20)]
    rows += [stamp(WF, 4, 20.1, 20.5), stamp(WF, 5, 20.6, 21)]
    pause = dict(fired=3.2, undone=18.2)
    out = outcome(inputs(rows, **pause))
    assert out.behaviour == "unaffected" and out.interrupted[0].started_before_fault is True
    assert "survived" in out.interrupted[0].evidence
    assert out.throughput.during == 0 and out.first_completion_after_undo_s == pytest.approx(1.8)
    twice = outcome(inputs(rows + [stamp(WF, 5, 21.1, 21.5)], **pause))
    assert twice.behaviour == "duplicated" and twice.tasks_duplicated == 1


def test_a_fault_that_never_fired_is_not_run_and_fails_the_repetition():
    log = FaultLog(service="worker", role="worker", undo_after_s=0.0)
    out = outcome(inputs(chain_stamps(3.1), log=log))
    assert out.behaviour == "not-run" and not out.ran_as_designed
    assert "mid_task=3 +0.2s" in out.not_run_reason
    failed = Repetition(repetition=1, phase="rep-1", warmup=False, status="failed", fault=out)
    assert not repetition_done(failed)


def test_a_platform_that_lost_tasks_under_a_fault_leaves_the_repetition_done_but_failed():
    out = outcome(inputs(chain_stamps(0, upto=3), status="timeout", done=90))
    rep = Repetition(
        repetition=1, phase="rep-1", warmup=False, status="failed", reasons=["3 of 6 tasks missing"], fault=out
    )
    assert repetition_done(rep) and rep.status == "failed"
    assert Repetition.model_validate_json(rep.model_dump_json()).fault == out


def test_warmup_transitions():
    rows = [
        {
            "warmup": True,
            "shape": "chain",
            "workflow_id": "w",
            "index": i,
            "body_start_ns": i * 10 + (i and 3),
            "body_end_ns": i * 10 + 1,
        }
        for i in range(3)
    ]
    rows.append({**rows[0], "warmup": False, "body_start_ns": 10**9})
    assert (warmup_transition_max_ns(rows), warmup_transition_max_ns([])) == (12, None)


# -- the runner against real processes ------------------------------------------------------------------
def sleeper(name="worker", role="worker") -> ServiceSpec:
    return ServiceSpec(name=name, role=role, command=[sys.executable, "-c", "import time; time.sleep(600)"])


@pytest.fixture
def host(tmp_path):
    stack = InProcessStack(tmp_path / "run")
    stack.start_worker(sleeper())
    stack.start_worker(sleeper("server", "server"))
    (tmp_path / "stamps").mkdir()
    yield stack, tmp_path / "stamps"
    stack.stop()


def write_stamps(folder, rows, pid=7):
    with open(folder / f"stamps-{pid}.jsonl", "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def fault(**over) -> spec.FaultSpec:
    return spec.FaultSpec.model_validate({**KILL, **over})


def test_runner_kills_mid_task_then_starts_a_replacement(host):
    stack, stamps = host
    write_stamps(stamps, [stamp("bench-x-rep-1-0", 2, 0, 1)], pid=1)  # an earlier repetition's leftovers
    first = stack.processes()["worker"].pid
    runner = FaultRunner(fault(undo_after_s=[0.3]), stack, stamps, "rep-2", "bench-x-rep-2-0", turn=0)
    runner.start()
    time.sleep(0.2)
    assert runner.log.fired_ns is None, "stamps of another repetition or run must not trigger"
    write_stamps(stamps, [stamp("bench-x-rep-2-1", 2, 0, 1)])
    time.sleep(0.1)
    assert runner.log.fired_ns is None, "only the first workflow run's task counts"
    now = time.time_ns() / S
    write_stamps(stamps, [stamp("bench-x-rep-2-0", i, now - 1, now) for i in range(3)])
    deadline = time.monotonic() + 10
    while runner.log.undone_ns is None and time.monotonic() < deadline:
        time.sleep(0.05)
    log = runner.stop()
    assert [op.operation for op in log.operations] == ["kill(SIGKILL)", "start"] and log.error is None
    assert log.fired_ns - int(now * S) == pytest.approx(0.2 * S, abs=0.1 * S)
    assert log.undone_ns - log.fired_ns >= 0.3 * S and not log.undone_early
    assert stack.processes()["worker"].pid != first
    stack.check_alive()


def test_runner_pauses_and_resumes_in_turn_and_undoes_early_when_the_repetition_ends(host):
    stack, stamps = host
    spec_ = fault(action="pause", target={"role": "server", "in_turn": True}, trigger={"at_s": 0.05}, undo_after_s=[60])
    runner = FaultRunner(spec_, stack, stamps, "rep-1", "bench-x-rep-1-0", turn=3)
    runner.start()
    deadline = time.monotonic() + 5
    while runner.log.fired_ns is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stack.processes()["server"].status() == psutil.STATUS_STOPPED
    log = runner.stop()  # long before the 60 s: resumed now, and said so
    assert [op.operation for op in log.operations] == ["pause", "resume"] and log.undone_early
    assert stack.processes()["server"].status() != psutil.STATUS_STOPPED


def test_runner_stopped_before_its_trigger_does_nothing_and_a_failed_operation_is_recorded(host):
    stack, stamps = host
    runner = FaultRunner(fault(trigger={"after_tasks": 3}), stack, stamps, "rep-1", "w", turn=0)
    runner.start()
    assert runner.stop().fired_ns is None and runner.log.operations == []
    stack.kill("worker")
    again = FaultRunner(fault(trigger={"at_s": 0}), stack, stamps, "rep-1", "w", turn=0)
    again.start()
    time.sleep(0.3)
    log = again.stop()
    assert log.error == "worker is already stopped" and log.operations[0].error == log.error
    with pytest.raises(BenchError, match="no service with role 'database'"):
        FaultRunner(fault(target={"role": "database"}), stack, stamps, "rep-1", "w", turn=0)


# -- the session end to end (null platform, with a real worker process to kill) ------------------------
class NullWithWorker(NullAdapter):
    """The null platform plus a worker process of its own (the tasks still run in-process)."""

    name = "nullworker"

    def workers(self, deployment):
        return [sleeper()]


class LosingWithWorker(NullWithWorker):
    """...and the last task of each run never runs, as a platform losing work under a fault would."""

    name = "losingworker"

    def _task(self, req, index, queued_ns=None):
        if index == req.tasks - 1 and "-rep-" in req.workflow_id:
            return EngineTask(index)
        return super()._task(req, index, queued_ns)


@pytest.mark.parametrize(
    "cls,behaviour,rep_status", [(NullWithWorker, "unaffected", "ok"), (LosingWithWorker, "lost", "failed")]
)
def test_session_records_the_fault_and_a_platform_losing_tasks_is_still_a_complete_run(
    tmp_path, monkeypatch, cls, behaviour, rep_status
):
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={cls.name: f"{__name__}:{cls.__name__}"})
    # ~40 ms a task: the fault, due after the 2nd, fires a second before the end (fib(22) left 0.1 s: flaky)
    wl = workload(
        fault={**KILL, "trigger": {"after_tasks": 2}, "undo_after_s": [0.1]},
        tasks=30,
        task={"op": "fib", "n": 27},
        repetitions=2,
    )
    path = run(RunOptions(cls.name, wl, results_root=tmp_path))
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error")
    warm, *measured = doc["repetitions"]
    assert warm["fault"] is None and len(measured) == 2
    for rep in measured:
        f = rep["fault"]
        assert rep["status"] == rep_status and f["ran_as_designed"] and f["behaviour"] == behaviour, json.dumps(f)
        assert [op["operation"] for op in f["operations"]] == ["kill(SIGKILL)", "start"]
        assert f["service"] == "worker" and f["undo_after_s"] == 0.1 and f["timeout_s"] == 60
    assert doc["summary"]["measured_repetitions_ok"] == (2 if rep_status == "ok" else 0)


# -- the report's fault table ---------------------------------------------------------------------------
def test_fault_table_renders_rows_settings_and_experiments_that_did_not_run():
    from types import SimpleNamespace

    from harness.analysis.faults import fault_report_context
    from harness.report.render import TEMPLATES

    from .record_factory import make_record

    waited = outcome(inputs(chain_stamps(0, upto=3), status="timeout", done=90))
    waited.collateral = [CollateralDeath(service="dag-processor", exit_code=1, seen_ns=12 * S)]
    never = outcome(inputs(chain_stamps(3.1), log=FaultLog(service="worker", role="worker", undo_after_s=0.0)))
    reps = [
        Repetition(repetition=0, phase="warmup-1", warmup=True, status="ok"),
        Repetition(repetition=1, phase="rep-1", warmup=False, status="failed", fault=waited),
        Repetition(repetition=2, phase="rep-2", warmup=False, status="failed", fault=never),
    ]
    record = make_record("prefect", workload="fault-worker-kill-chain", kind="production", repetitions=reps)
    key = ("prefect", "native sqlite", "fault-worker-kill-chain")
    ctx = fault_report_context({key: SimpleNamespace(record=record)})
    assert [r["behaviour"] for r in ctx["rows"]] == ["waited-until-timeout"] and len(ctx["not_run"]) == 1
    assert ctx["rows"][0]["collateral"] == "dag-processor"
    text = TEMPLATES.get_template("faults.md.j2").render(faults=ctx)
    assert "| prefect | native sqlite | worker-kill | worker | kill(SIGKILL) | 0 | 3/6 | 0 | 0 / 1 |" in text
    assert "| waited-until-timeout + **dag-processor died** |" in text
    assert "retry policy" in text and "was not reached" in text
    assert "No complete run" in TEMPLATES.get_template("faults.md.j2").render(faults=fault_report_context({}))


def test_a_rerun_seen_after_the_limit_while_the_records_settled_is_a_late_retry_not_a_wait():
    out = outcome(inputs(chain_stamps(64.0), status="timeout", attempts={3: 2}, done=60))
    assert out.behaviour == "retried-after-timeout" and out.tasks_lost == 0
    assert "1 run(s) not final within the limit of 60s" in out.behaviour_detail
