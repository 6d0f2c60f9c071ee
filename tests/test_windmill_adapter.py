"""Windmill adapter: flows out, job records in, and its HTTP calls through `wmill`. No Windmill server
exists on our machines (it ships only as a container image), so these use the paths and shapes of
Windmill 1.850's API description (a local HTTP server answers as it documents); the adapter has not
yet been run against a real server (see stacks/windmill/README.md)."""

import json
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import pytest

from harness.model import spec
from harness.model.engine import WorkflowRequest
from harness.model.errors import BenchError
from harness.platforms import windmill
from harness.platforms.base import deployable

from .fake_http import ApiHandler, serving


def test_chain_flow_runs_the_runs_script_in_order_with_each_index():
    steps = windmill.flow_value("chain", 3, "f/bench/run_task", "h4sh")["modules"]
    assert [s["id"] for s in steps] == ["t0", "t1", "t2"]
    assert [s["value"]["input_transforms"]["index"]["expr"] for s in steps] == ["0", "1", "2"]
    assert all(
        s["value"] | {"input_transforms": None}
        == {"type": "script", "path": "f/bench/run_task", "hash": "h4sh", "input_transforms": None}
        for s in steps
    )


def test_fanout_flow_is_one_parallel_loop_over_the_indices():
    (loop,) = windmill.flow_value("fanout", 100, "f/bench/run_task", "h4sh")["modules"]
    v = loop["value"]
    assert v["type"] == "forloopflow" and v["parallel"] is True and v["skip_failures"] is False
    assert v["iterator"]["expr"] == "flow_input.indices"
    assert v["modules"][0]["value"]["input_transforms"]["index"]["expr"] == "flow_input.iter.value"
    with pytest.raises(Exception, match="no flow for shape 'idle'"):
        windmill.flow_value("idle", 1, "f/bench/run_task", "h4sh")


def test_step_script_is_the_harness_task_body_and_stamps(tmp_path):
    assert repr(windmill.STAMPS_MOUNT) in windmill.step_script(), "stamps go to the folder the compose file mounts"
    script = tmp_path / "step.py"
    script.write_text(windmill.step_script(str(tmp_path)))
    # run it as Windmill's python wrapper does: import the script, call main with the step's args
    code = (
        f"import importlib.util as u; s=u.spec_from_file_location('m','{script}'); m=u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.main('wf-1', 4, 'fib', 15))"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env={"HOSTNAME": "w2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    (stamp_file,) = tmp_path.glob("stamps-w2-*.jsonl")
    stamp = json.loads(stamp_file.read_text())
    assert stamp["workflow_id"] == "wf-1" and stamp["index"] == 4
    assert stamp["body_start_ns"] < stamp["body_end_ns"]


def _job(
    kind,
    index=None,
    created="2026-11-24T10:00:00.000100Z",
    started="2026-11-24T10:00:00.002600Z",
    duration_ms=3,
    completed=None,
    **extra,
):
    job = {
        "id": f"job-{index}",
        "type": "CompletedJob",
        "job_kind": kind,
        "created_at": created,
        "started_at": started,
        "duration_ms": duration_ms,
        "success": True,
        **extra,
    }
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
            self.jobs[f"step-{i}"] = {**_job("script", i), "id": f"step-{i}"}
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


class FakeWindmill(ApiHandler):
    """The endpoints the adapter reaches through `wmill`, at the paths, methods and shapes of
    Windmill 1.850's API (windmill-api 1.850.0: workspace.create_workspace, folder.create_folder,
    script.create_script, script.get_script_deployment_status, flow.create_flow, worker.list_workers,
    job.run_flow_by_path, job.get_completed_job_result_maybe, job.list_jobs, job.get_job). The
    script's lock is there on the second status read; the flow completes on the second poll."""

    def lock_status(self):
        self.server.lock_reads += 1
        return 200, {"lock": None if self.server.lock_reads < 2 else "", "job_id": "0190-lock"}

    def route(self, body):
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        if self.headers.get("Authorization") != "Bearer tok3n":
            return 401, "Unauthorized"
        routes = {
            ("POST", "/api/workspaces/create"): lambda: (400, "workspace already exists"),
            ("POST", "/api/w/bench/folders/create"): lambda: (200, "Created folder bench"),
            ("POST", "/api/w/bench/scripts/create"): lambda: (201, "h4sh"),
            ("GET", "/api/w/bench/scripts/deployment_status/h/h4sh"): self.lock_status,
            ("POST", "/api/w/bench/flows/create"): lambda: (201, json.loads(body)["path"]),
            ("GET", "/api/workers/list"): lambda: (200, [{"worker": "wk-1", "worker_group": "default"}]),
            ("GET", "/api/version"): lambda: (200, "CE v1.850.0"),
            ("GET", "/api/w/bench/jobs/list"): lambda: (
                200,
                [{**self.server.jobs[c], "args": None} for c in self.server.children.get(query["parent_job"], [])],
            ),
        }
        if (self.command, url.path) in routes:
            return routes[(self.command, url.path)]()
        if self.command == "POST" and url.path.startswith("/api/w/bench/jobs/run/f/"):
            return 201, "0190-flow"
        if self.command == "GET" and url.path == "/api/w/bench/jobs_u/completed/get_result_maybe/0190-flow":
            self.server.polls += 1
            return 200, {"completed": self.server.polls >= 2, "success": True, "result": [0, 1]}
        if (
            self.command == "GET"
            and url.path.startswith("/api/w/bench/jobs_u/get/")
            and query == {"no_logs": "true", "no_code": "true"}
        ):
            return 200, self.server.jobs[url.path.rsplit("/", 1)[-1]]
        return 404, f"no route {self.command} {self.path}"


def _deployed(server, name: str, shape: str, tasks: int) -> windmill.WindmillAdapter:
    """An adapter connected to the fake server, with `deploy` done for a workload of that shape."""
    adapter = windmill.WindmillAdapter()
    workload = type("W", (), {"name": name, "shape": shape, "tasks": tasks})
    deployment = type(
        "D",
        (),
        {
            "endpoints": {"base_url": f"http://127.0.0.1:{server.server_port}", "token": "tok3n"},
            "names": "bench-run-1",
            "run_id": "run-1",
            "workload": workload,
        },
    )()
    adapter.connect(deployment)
    adapter.deploy(deployment)
    return adapter


def test_adapter_speaks_windmills_api_through_wmill():
    jobs = _JobsApi(tasks=2)
    children = {("0190-flow" if k == "flow" else k): v for k, v in jobs.children.items()}
    with serving(
        FakeWindmill, polls=0, lock_reads=0, jobs={**jobs.jobs, "0190-flow": jobs.jobs["flow"]}, children=children
    ) as server:
        adapter = _deployed(server, "chain-2", "chain", 2)
        handle = adapter.submit(WorkflowRequest("bench-run-1-rep-1-0", "chain", 2, "noop", 0))
        assert handle == "0190-flow"
        assert adapter.wait(handle, timeout_s=5) == "completed"
        assert [t.index for t in adapter.records(handle, None).tasks] == [0, 1]
        assert adapter.versions()["windmill server"] == "CE v1.850.0"
        adapter.close()
    sent = {urlsplit(path).path: json.loads(body) if body else None for _, path, _, body in server.seen}
    script = sent["/api/w/bench/scripts/create"]
    assert script["path"] == "f/bench/bench_run_1_task" and script["language"] == "python3"
    assert "def main(workflow_id: str, index: int, op: str, n: int)" in script["content"]
    created = sent["/api/w/bench/flows/create"]
    assert created["path"] == "f/bench/bench_run_1" and len(created["value"]["modules"]) == 2
    assert {m["value"]["hash"] for m in created["value"]["modules"]} == {"h4sh"}
    assert sent["/api/w/bench/jobs/run/f/f/bench/bench_run_1"] == {
        "workflow_id": "bench-run-1-rep-1-0",
        "op": "noop",
        "n": 0,
        "indices": [0, 1],
    }
    order = [urlsplit(path).path for _, path, _, _ in server.seen]
    lock_reads = [i for i, path in enumerate(order) if path == "/api/w/bench/scripts/deployment_status/h/h4sh"]
    assert len(lock_reads) == 2 and order.index("/api/w/bench/flows/create") > lock_reads[-1], (
        "the flow is created once the script's lock exists"
    )


def test_a_script_windmill_cannot_lock_stops_the_run_with_its_log():
    adapter = windmill.WindmillAdapter()
    adapter._script = "f/bench/run_task"
    adapter._wm = type("Wm", (), {"get": lambda self, path: _Reply({"lock_error_logs": "pip: no such package\n"})})()
    with pytest.raises(BenchError, match="windmill could not lock f/bench/run_task: pip: no such package"):
        adapter._script_locked("h4sh")


def test_the_idle_baseline_deploys_a_one_step_noop_flow_once_a_worker_pinged():
    """The driver hands deploy() a one-task no-op chain for the idle workload (base.deployable):
    the stack idles with its flow deployed and a worker seen, as under load."""
    idle = deployable(spec.load("idle-60s"))
    assert (idle.shape, idle.tasks, idle.task.op) == ("chain", 1, "noop")
    with serving(FakeWindmill, polls=0, lock_reads=0, jobs={}, children={}) as server:
        adapter = _deployed(server, idle.name, idle.shape, idle.tasks)
        adapter.close()
    paths = [urlsplit(path).path for _, path, _, _ in server.seen]
    assert paths.index("/api/workers/list") < paths.index("/api/w/bench/scripts/create")
    (flow,) = [json.loads(body) for _, path, _, body in server.seen if urlsplit(path).path.endswith("/flows/create")]
    assert [m["id"] for m in flow["value"]["modules"]] == ["t0"]
