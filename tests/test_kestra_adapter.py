"""Kestra adapter's translation layer and wire format. No Kestra server exists on our machines (it
ships as a container image or a release download, neither of which we can reach), so flows are
checked against Kestra's documented rules, the script is run as the Python plugin runs it, engine
records are parsed by Kestra's own SDK models (kestrapy), and the SDK's HTTP calls go to a local
HTTP server answering in the shapes of Kestra's REST API. The adapter has not yet been run against
a real Kestra (see stacks/kestra/README.md)."""

import base64
import json
import re
import subprocess
import sys

import pytest
import yaml
from kestrapy.models.execution import Execution
from kestrapy.models.flow import Flow

from harness.model import spec
from harness.model.engine import WorkflowRequest
from harness.model.errors import BenchError
from harness.platforms import kestra, mechanics
from harness.platforms.base import deployable

from .fake_http import ApiHandler, serving

TASK_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")  # Kestra's task id rule: no dots
INPUT_REF = re.compile(r"\{\{\s*inputs\.(\w+)\s*\}\}")


def _kestra_flow(flow: dict) -> Flow:
    """The flow as Kestra's SDK models it (input types and task ids checked); `disabled` and
    `deleted` are the server's own fields, which a flow's source leaves out."""
    return Flow.from_dict({**flow, "disabled": False, "deleted": False})


def _scripts(tasks):
    for task in tasks:
        yield from _scripts(task.get("tasks", []))
        if task["type"] == kestra.SCRIPT_TASK:
            yield task


def test_chain_flow_is_top_level_script_tasks_in_order():
    flow = yaml.safe_load(yaml.safe_dump(kestra.flow_definition("bench-20261124T100000Z-x-abc", "chain", 3)))
    assert [i.type.value for i in _kestra_flow(flow).inputs] == ["STRING", "STRING", "INT"]
    assert flow["namespace"] == kestra.NAMESPACE
    assert [t["id"] for t in flow["tasks"]] == ["t0", "t1", "t2"]
    assert [t["env"]["BENCH_INDEX"] for t in flow["tasks"]] == ["0", "1", "2"]
    assert all(t["taskRunner"]["type"] == "io.kestra.plugin.core.runner.Process" for t in flow["tasks"])
    declared = {i["id"] for i in flow["inputs"]}
    for task in _scripts(flow["tasks"]):
        assert TASK_ID.match(task["id"])
        assert set(INPUT_REF.findall(json.dumps(task["env"]))) <= declared


def test_fanout_flow_is_one_foreach_without_a_concurrency_limit():
    flow = kestra.flow_definition("bench-1", "fanout", 100)
    assert _kestra_flow(flow).tasks[0].type == "io.kestra.plugin.core.flow.ForEach"
    (loop,) = flow["tasks"]
    assert loop["type"] == "io.kestra.plugin.core.flow.ForEach"
    assert loop["concurrencyLimit"] == 0, "Kestra's default of 1 would run the fan-out one task at a time"
    assert loop["values"] == [str(i) for i in range(100)]
    (step,) = loop["tasks"]
    assert step["id"] == "t" and step["env"]["BENCH_INDEX"] == "{{ taskrun.value }}"


def test_bad_shapes_and_flow_ids_are_refused():
    with pytest.raises(BenchError, match="no flow for shape 'idle'"):
        kestra.flow_definition("bench-1", "idle", 1)
    with pytest.raises(BenchError, match="not a valid Kestra flow id"):
        kestra.flow_definition("bench/1", "chain", 1)


def test_a_pebble_delimiter_in_the_task_body_is_refused(monkeypatch):
    monkeypatch.setattr(mechanics.inspect, "getsource", lambda module: "x = '{{ oops }}'\n")
    with pytest.raises(BenchError, match="Pebble"):
        kestra.task_script()


def test_task_script_runs_as_the_python_plugin_runs_it_and_stamps(tmp_path):
    assert repr(kestra.STAMPS_MOUNT) in kestra.task_script(), "stamps go to the folder the compose file mounts"
    script = tmp_path / "main.py"
    # the plugin prepends JSON-style aliases to every script: `from __future__` would then be a SyntaxError
    script.write_text("true = True\nfalse = False\nnull = None\n" + kestra.task_script(str(tmp_path)))
    env = {"BENCH_WORKFLOW_ID": "wf-1", "BENCH_INDEX": "4", "BENCH_OP": "fib", "BENCH_N": "15"}
    done = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    (stamp_file,) = tmp_path.glob("stamps-*.jsonl")
    stamp = json.loads(stamp_file.read_text())
    assert stamp["workflow_id"] == "wf-1" and stamp["index"] == 4
    assert stamp["body_start_ns"] < stamp["body_end_ns"]


def _state(*steps, current=None, end=None):
    """steps: (state, microseconds after 10:00:00 UTC)"""
    hist = [{"state": s, "date": f"2026-11-24T10:00:00.{us:06d}Z"} for s, us in steps]
    state = {"current": current or steps[-1][0], "histories": hist}
    if end is not None:
        state["endDate"] = f"2026-11-24T10:00:00.{end:06d}Z"
    return state


def _task_run(task_id, value=None, attempts=1):
    run = {
        "id": f"tr-{task_id}-{value}",
        "executionId": "ex1",
        "namespace": "bench",
        "flowId": "bench-run1",
        "taskId": task_id,
        "state": _state(("CREATED", 100), ("SUBMITTED", 200), ("RUNNING", 2600), ("SUCCESS", 5600)),
        "attempts": [{"state": _state(("RUNNING", 2600), ("SUCCESS", 5600))}] * attempts,
    }
    if value is not None:
        run["value"] = value
    return run


def _execution(state, task_runs=()):
    """An execution as Kestra's API returns it, parsed by kestrapy's model as the adapter gets it."""
    return {
        "id": "ex1",
        "namespace": "bench",
        "flowId": "bench-run1",
        "flowRevision": 1,
        "deleted": False,
        "state": state,
        "taskRunList": list(task_runs),
    }


def test_execution_becomes_engine_records_per_task():
    doc = _execution(
        _state(("CREATED", 0), ("RUNNING", 50), ("SUCCESS", 9000), end=9000),
        [_task_run("fan"), _task_run("t", "1"), _task_run("t", "0", attempts=2)],
    )
    wf = kestra.workflow_record(Execution.from_dict(doc))
    assert wf.status == "completed"
    assert [t.index for t in wf.tasks] == [0, 1], "the ForEach's own task run is not a task"
    t = wf.tasks[0]
    assert t.created_ns == t.queued_ns == 1795514400000100000
    assert t.started_ns - t.queued_ns == 2_500_000 and t.finished_ns - t.started_ns == 3_000_000
    assert t.attempts == 2
    assert wf.finished_ns - wf.created_ns == 9_000_000


def test_execution_status_follows_kestras_terminal_states():
    failed = kestra.workflow_record(
        Execution.from_dict(_execution(_state(("CREATED", 0), ("RUNNING", 1), ("FAILED", 2)), [_task_run("t3")]))
    )
    assert failed.status == "failed" and [t.index for t in failed.tasks] == [3]
    running = kestra.workflow_record(Execution.from_dict(_execution(_state(("CREATED", 0), ("RUNNING", 1)))))
    assert running.status == "running" and running.tasks == []


class FakeKestra(ApiHandler):
    """The REST endpoints the adapter reaches through kestrapy, answering as Kestra documents them."""

    def route(self, body):
        if self.headers.get("Authorization") != self.server.auth:
            return 401, {"message": "Unauthorized"}
        if self.command == "POST" and self.path == "/api/v1/main/flows":
            flow = yaml.safe_load(body)
            return 200, {
                "id": flow["id"],
                "namespace": flow["namespace"],
                "revision": 1,
                "tasks": flow["tasks"],
                "source": body.decode(),
            }
        if self.command == "POST" and self.path.startswith("/api/v1/main/executions/bench/"):
            return 200, {**_execution(_state(("CREATED", 0))), "url": "http://x/ui"}
        if self.command == "GET" and self.path == "/api/v1/main/executions/ex1":
            self.server.polls += 1
            if self.server.polls < 3:
                return 200, _execution(_state(("CREATED", 0), ("RUNNING", 1)))
            return 200, _execution(_state(("CREATED", 0), ("RUNNING", 1), ("SUCCESS", 9), end=9), [_task_run("t0")])
        return 404, {"message": f"no route {self.command} {self.path}"}


@pytest.fixture
def fake_kestra():
    auth = "Basic " + base64.b64encode(b"bench@example.com:Secret1Aa1").decode()
    with serving(FakeKestra, polls=0, auth=auth) as server:
        yield server


def _adapter(server, password="Secret1Aa1"):
    adapter = kestra.KestraAdapter()
    adapter._kestra = kestra.api_client(
        {"api": f"http://127.0.0.1:{server.server_port}/", "username": "bench@example.com", "password": password},
        timeout_s=5,
    )
    adapter._flow = "bench-run1"
    return adapter


def test_requests_follow_kestras_api(fake_kestra):
    adapter = _adapter(fake_kestra)
    workload = type("W", (), {"shape": "chain", "tasks": 2})
    adapter.deploy(type("D", (), {"workload": workload})())
    handle = adapter.submit(WorkflowRequest("bench-run1-rep-1-0", "chain", 2, "noop", 0))
    assert handle == "ex1"
    assert adapter.wait(handle, timeout_s=5) == "completed"
    assert [t.index for t in adapter.records(handle, None).tasks] == [0]
    adapter.close()

    (_, _, create_headers, create_body), (_, trigger_path, trigger_headers, trigger_body) = fake_kestra.seen[:2]
    assert create_headers["Content-Type"] == "application/x-yaml"
    assert yaml.safe_load(create_body)["id"] == "bench-run1"
    assert trigger_path == "/api/v1/main/executions/bench/bench-run1"
    assert trigger_headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="workflow_id"\r\n\r\nbench-run1-rep-1-0' in trigger_body
    assert b'name="n"\r\n\r\n0' in trigger_body


def test_an_http_error_is_one_line_naming_the_call_and_status(fake_kestra):
    adapter = _adapter(fake_kestra, password="wrong")
    with pytest.raises(BenchError, match=r"^kestra get execution: HTTP 401 Unauthorized: .*Unauthorized[^\n]*$"):
        adapter.wait("ex1", timeout_s=1)


def test_the_idle_baseline_deploys_a_one_task_noop_flow(fake_kestra):
    """The driver hands deploy() a one-task no-op chain for the idle workload (base.deployable)."""
    idle = deployable(spec.load("idle-60s"))
    _adapter(fake_kestra).deploy(type("D", (), {"workload": idle})())
    ((method, path, _, body),) = fake_kestra.seen
    assert (method, path) == ("POST", "/api/v1/main/flows")
    assert [t["id"] for t in yaml.safe_load(body)["tasks"]] == ["t0"]
