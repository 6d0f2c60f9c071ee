"""Windmill adapter's translation layer: flows out, job records in. No Windmill server exists on our
machines (it ships only as a container image), so these use the shapes of Windmill's OpenAPI
description; the adapter has not yet been run against a real server (see stacks/windmill/README.md)."""
import json
import subprocess
import sys

import pytest

from harness.platforms import windmill


def test_chain_flow_runs_each_step_in_order_with_its_index():
    value = windmill.flow_value("chain", 3)
    steps = value["modules"]
    assert [s["id"] for s in steps] == ["t0", "t1", "t2"]
    assert [s["value"]["input_transforms"]["index"]["expr"] for s in steps] == ["0", "1", "2"]
    assert all(s["value"]["type"] == "rawscript" and s["value"]["language"] == "python3" for s in steps)


def test_fanout_flow_is_one_parallel_loop_over_the_indices():
    (loop,) = windmill.flow_value("fanout", 100)["modules"]
    v = loop["value"]
    assert v["type"] == "forloopflow" and v["parallel"] is True and v["skip_failures"] is False
    assert v["iterator"]["expr"] == "flow_input.indices"
    assert v["modules"][0]["value"]["input_transforms"]["index"]["expr"] == "flow_input.iter.value"
    with pytest.raises(Exception, match="no flow for shape 'idle'"):
        windmill.flow_value("idle", 1)


def test_step_script_is_the_harness_task_body_and_stamps(tmp_path, monkeypatch):
    monkeypatch.setattr(windmill, "STAMPS_MOUNT", str(tmp_path))
    script = tmp_path / "step.py"
    script.write_text(windmill.step_script())
    # run it as Windmill's python wrapper does: import the script, call main with the step's args
    code = f"import importlib.util as u; s=u.spec_from_file_location('m','{script}'); m=u.module_from_spec(s); " \
           "s.loader.exec_module(m); print(m.main('wf-1', 4, 'fib', 15))"
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env={"HOSTNAME": "w2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    (stamp_file,) = tmp_path.glob("stamps-w2-*.jsonl")
    stamp = json.loads(stamp_file.read_text())
    assert stamp["workflow_id"] == "wf-1" and stamp["index"] == 4
    assert stamp["body_start_ns"] < stamp["body_end_ns"]


def _job(kind, index=None, created="2026-11-24T10:00:00.000100Z", started="2026-11-24T10:00:00.002600Z",
         duration_ms=3, completed=None, **extra):
    job = {"id": f"job-{index}", "type": "CompletedJob", "job_kind": kind, "created_at": created,
           "started_at": started, "duration_ms": duration_ms, "success": True, **extra}
    if index is not None:
        job["args"] = {"workflow_id": "wf", "index": index, "op": "noop", "n": 0}
    if completed:
        job["completed_at"] = completed
    return job


def test_job_records_become_engine_tasks_with_microsecond_times():
    t = windmill.task_record(_job("flowscript", 7))
    assert t.index == 7
    assert t.created_ns == t.queued_ns == 1795514400000100000
    assert t.started_ns - t.created_ns == 2_500_000
    assert t.finished_ns - t.started_ns == 3_000_000, "started_at + duration_ms when completed_at is absent"
    exact = windmill.task_record(_job("script", 1, completed="2026-11-24T10:00:00.004000Z"))
    assert exact.finished_ns == 1795514400004000000
    assert windmill.task_record(_job("forloopflow")) is None, "loop iterations are not tasks"


def test_flow_record_keeps_status_and_sorts_steps():
    flow = _job("flow", success=False)
    wf = windmill.workflow_record(flow, [_job("flowscript", 2), _job("flowscript", 0), _job("flow")])
    assert wf.status == "failed" and [t.index for t in wf.tasks] == [0, 2]
    running = windmill.workflow_record({**_job("flow"), "type": "QueuedJob"}, [])
    assert running.status == "running"


class _Reply:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class _JobsApi:
    """Windmill's jobs endpoints as 1.850 answers them: jobs/list items carry "args": null, and each
    parallel for-loop iteration is a sub-flow job between the flow job and its step job."""

    def __init__(self, tasks):
        self.jobs = {"flow": {**_job("flow"), "id": "flow"}}
        self.children = {"flow": []}
        for i in range(tasks):
            self.jobs[f"iter-{i}"] = {**_job("flowpreview"), "id": f"iter-{i}"}
            self.jobs[f"step-{i}"] = {**_job("flowscript", i), "id": f"step-{i}"}
            self.children["flow"].append(f"iter-{i}")
            self.children[f"iter-{i}"] = [f"step-{i}"]

    def get(self, path, params=None):
        if path.endswith("/jobs/list"):
            return _Reply([{**self.jobs[c], "args": None} for c in self.children.get(params["parent_job"], [])])
        return _Reply(self.jobs[path.rsplit("/", 1)[-1]])


def test_records_walk_loop_iterations_and_read_each_steps_args():
    adapter = windmill.WindmillAdapter()
    adapter._wm = _JobsApi(tasks=4)
    wf = adapter.records("flow", request=None)
    assert wf.status == "completed"
    assert [t.index for t in wf.tasks] == [0, 1, 2, 3]
