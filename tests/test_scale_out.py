"""The worker-scale-out fault (issue 10): workers added mid-workload, stopped when the repetition ends,
and judged by whether the task bodies' stamps name them; runs submitted all at once so work queues."""

import json
import time

import pandas as pd
import psutil
import pytest

from harness.analysis.faults import outcome
from harness.faults.runner import FaultRunner
from harness.model import spec
from harness.model.fault_record import FaultLog, FaultOperation
from harness.run.driver import RunOptions, run

from .conftest import stacks_with
from .test_faults import CHAIN, WF, S, host, inputs, sleeper, stamp, workload, write_stamps  # noqa: F401 (host: fixture)

SCALE = {
    "scenario": "worker-scale-out",
    "action": "scale-out",
    "target": {"role": "worker"},
    "trigger": {"after_tasks": 2},
}


def test_runner_scales_out_then_stops_the_added_workers_when_the_repetition_ends(host):
    stack, stamps = host
    made = []

    def more(count, tag):
        made.append((count, tag))
        return [sleeper(f"worker-{tag}-{k}") for k in range(1, count + 1)]

    runner = FaultRunner(
        spec.FaultSpec.model_validate({**SCALE, "add_workers": 2}),
        stack,
        stamps,
        "rep-1",
        "bench-x-rep-1-0",
        turn=1,
        more_workers=more,
    )
    runner.start()
    now = time.time_ns() / S
    write_stamps(stamps, [stamp("bench-x-rep-1-0", i, now - 1, now) for i in range(2)])
    deadline = time.monotonic() + 10
    while runner.log.undone_ns is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert made == [(2, "scale2")] and runner.log.added == ["worker-scale2-1", "worker-scale2-2"]
    added = [stack.processes()[n] for n in runner.log.added]
    assert all(p.is_running() for p in added)
    log = runner.stop()
    assert [op.operation for op in log.operations] == ["scale-out(+2)", "stop-added"] and log.error is None
    assert log.undone_ns == log.operations[0].end_ns
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in added)
    stack.check_alive()  # stopped on purpose: not a death


def test_a_scale_out_without_a_harness_worker_is_an_error_not_a_crash(host):
    stack, stamps = host
    runner = FaultRunner(
        spec.FaultSpec.model_validate({**SCALE, "trigger": {"at_s": 0}}), stack, stamps, "rep-1", "w", turn=0
    )
    runner.start()
    time.sleep(0.3)
    log = runner.stop()
    assert "there is no worker to add" in log.error and log.added == []


def test_a_scale_out_is_judged_by_who_ran_the_tasks_after_it():
    wl = spec.Workload.model_validate({**CHAIN, "shape": "fanout", "tasks": 8, "fault": SCALE})
    log = FaultLog(
        service="worker",
        role="worker",
        undo_after_s=None,
        started_ns=0,
        fired_ns=2 * S,
        undone_ns=3 * S,
        added=["worker-scale1-1"],
        operations=[FaultOperation(operation="scale-out(+1)", service="worker", start_ns=2 * S, end_ns=3 * S)],
    )
    rows = [{**stamp(WF, i, i, i + 1), "worker": "worker"} for i in range(3)]  # 1 task/s before
    rows += [
        {**stamp(WF, 3 + k, 3 + k / 2, 3.5 + k / 2), "worker": "worker" if k % 2 else "worker-scale1-1"}
        for k in range(5)
    ]  # 2 tasks/s after
    out = outcome(inputs(rows, wl=wl, log=log, done=6.0))
    assert out.behaviour == "used-added-workers" and out.interrupted == []
    assert (out.tasks_on_added, out.first_task_on_added_s, out.added_workers) == (3, 0.0, ["worker-scale1-1"])
    assert out.throughput.before == pytest.approx(1.0) and out.throughput.after == pytest.approx(2.0)
    assert "3 of 8 task bodies ran on the added worker(s) worker-scale1-1" in out.behaviour_detail
    assert "(x2.00)" in out.behaviour_detail
    same = [{**r, "worker": "worker"} for r in rows]
    ignored = outcome(inputs(same, wl=wl, log=log, done=6.0))
    assert ignored.behaviour == "ignored-added-workers" and ignored.tasks_on_added == 0
    lost = outcome(inputs(same[:-1], wl=wl, log=log, done=6.0))
    assert lost.behaviour == "lost"  # losing work is worse than any scale-out outcome


def test_a_scale_out_through_the_session_adds_a_worker_to_runs_submitted_at_once(tmp_path, monkeypatch):
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"nullworker": "tests.test_faults:NullWithWorker"})
    wl = workload(
        fault=SCALE,
        runs=4,
        submit="all-at-once",
        tasks=3,
        task={"op": "fib", "n": 26},
        repetitions=1,
        workers={"processes": 1, "slots": 1},
    )
    path = run(RunOptions("nullworker", wl, results_root=tmp_path))
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error")
    rep = doc["repetitions"][-1]
    f = rep["fault"]
    assert [op["operation"] for op in f["operations"]] == ["scale-out(+1)", "stop-added"], json.dumps(f)
    assert f["added_workers"] == ["worker-scale1-1"] and f["ran_as_designed"]
    # the null platform runs its tasks in the harness, not in the worker: the added worker ran none
    assert f["behaviour"] == "ignored-added-workers" and f["tasks_on_added"] == 0
    subs = pd.read_parquet(path / "workflows.parquet")
    measured = subs[subs["phase"] == "rep-1"].sort_values("submit_ns")
    assert measured["submit_ns"].max() < measured["done_ns"].min(), "all four submitted before the first ended"
