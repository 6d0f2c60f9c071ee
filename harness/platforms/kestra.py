"""Kestra adapter: one flow per run (Python script tasks in sequence, or one parallel ForEach),
executions submitted and read with Kestra's own Python SDK (`kestrapy`, the 1.3 line for a 1.3
server; tenant `main`, basic auth).

Every task is an `io.kestra.plugin.scripts.python.Script` run by the Process task runner, i.e.
`python` inside the Kestra container, which the official image ships: the Docker task runner
(Kestra's default) would need the Docker socket, which the compose file does not mount (see
stacks/kestra/README.md). The script is the harness's own task body (harness/workers/taskbody.py, standard
library only); the compose file mounts the run's stamp folder at STAMPS_MOUNT.

Not yet run against a real Kestra: no Docker engine exists where this was written and Kestra's
distribution is published only as an image or a release download.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

import yaml

from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.platforms.base import STAMPS_MOUNT, Adapter, Deployment
from harness.platforms.mechanics import epoch_ns, poll_until, task_body_script

NAMESPACE = "bench"
TENANT = "main"  # the only tenant of Kestra's open-source edition
TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}
SCRIPT_TASK = "io.kestra.plugin.scripts.python.Script"
PEBBLE = re.compile(r"\{\{|\{%|\{#")  # Kestra renders `script` with Pebble: these must not occur in it
FLOW_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$")


def task_script(stamps_dir: str = STAMPS_MOUNT) -> str:
    """The Python each task runs: start stamp first (the script is the process, so its start is the
    task's), then the harness's task body, then the call with the task's inputs from the environment."""
    script = task_body_script(
        """
run_task(os.environ["BENCH_WORKFLOW_ID"], int(os.environ["BENCH_INDEX"]), os.environ["BENCH_OP"],
         int(os.environ["BENCH_N"]), _bench_start_ns, _bench_sink)
""",
        prelude="import time as _bench_time\n_bench_start_ns = _bench_time.time_ns()\n",
        stamps_dir=stamps_dir,
    )
    if PEBBLE.search(script):
        raise BenchError("the task body contains a Pebble delimiter ({{, {% or {#), which Kestra would render")
    return script


def _task(task_id: str, index_expr: str, script: str) -> dict:
    return {
        "id": task_id,
        "type": SCRIPT_TASK,
        "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"},
        "packageManager": "PIP",  # uv, the default, may be missing from the image and fetched mid-task
        "env": {
            "BENCH_WORKFLOW_ID": "{{ inputs.workflow_id }}",
            "BENCH_INDEX": index_expr,
            "BENCH_OP": "{{ inputs.op }}",
            "BENCH_N": "{{ inputs.n }}",
        },
        "script": script,
    }


def flow_definition(flow_id: str, shape: str, tasks: int) -> dict:
    """The flow for a workload shape: top-level tasks (Kestra runs them in sequence) or one ForEach
    over the indices with no concurrency limit."""
    if not FLOW_ID.match(flow_id):
        raise BenchError(f"{flow_id!r} is not a valid Kestra flow id")
    script = task_script()
    if shape == "chain":
        steps = [_task(f"t{i}", str(i), script) for i in range(tasks)]
    elif shape == "fanout":
        steps = [
            {
                "id": "fan",
                "type": "io.kestra.plugin.core.flow.ForEach",
                "values": [str(i) for i in range(tasks)],
                "concurrencyLimit": 0,
                "tasks": [_task("t", "{{ taskrun.value }}", script)],
            }
        ]
    else:
        raise BenchError(f"kestra adapter has no flow for shape {shape!r}")
    return {
        "id": flow_id,
        "namespace": NAMESPACE,
        "description": "orchestrator-bench",
        "inputs": [{"id": "workflow_id", "type": "STRING"}, {"id": "op", "type": "STRING"}, {"id": "n", "type": "INT"}],
        "tasks": steps,
    }


def _name(state) -> str:
    return getattr(state, "value", state)


def first(histories, state: str) -> int | None:
    return next((epoch_ns(h.var_date) for h in histories or [] if _name(h.state) == state), None)


def task_record(task_run) -> EngineTask | None:
    """A script task's run (kestrapy TaskRun) -> the engine's record of that task (None for the
    ForEach's own run)."""
    if task_run.task_id == "t":
        index = task_run.value
    elif re.fullmatch(r"t\d+", task_run.task_id):
        index = task_run.task_id[1:]
    else:
        return None
    histories = task_run.state.histories or []
    created = first(histories, "CREATED")
    finished = next((epoch_ns(h.var_date) for h in reversed(histories) if _name(h.state) in TERMINAL), None)
    # CREATED is when the executor made the task runnable: the queue time, as for the other engines.
    return EngineTask(
        int(index),
        created_ns=created,
        queued_ns=created,
        started_ns=first(histories, "RUNNING"),
        finished_ns=finished,
        attempts=max(1, len(task_run.attempts or [])),
    )


def workflow_record(execution) -> EngineWorkflow:
    """A kestrapy Execution -> the engine's record of the workflow run and its tasks."""
    current = _name(execution.state.current)
    status = "completed" if current == "SUCCESS" else "running" if current not in TERMINAL else "failed"
    histories = execution.state.histories or []
    tasks = [t for t in (task_record(r) for r in execution.task_run_list or []) if t is not None]
    return EngineWorkflow(
        status=status,
        created_ns=first(histories, "CREATED"),
        started_ns=first(histories, "RUNNING"),
        finished_ns=epoch_ns(execution.state.end_date),
        tasks=sorted(tasks, key=lambda t: t.index),
    )


def api_client(endpoints: dict[str, str], timeout_s: float = 30):
    from kestrapy import KestraClient  # lazy: the SDK; loaded by the run that uses it

    return KestraClient(
        host=endpoints["api"], username=endpoints["username"], password=endpoints["password"], timeout=timeout_s
    )


class KestraAdapter(Adapter):
    wait_poll_s = 0.02  # how often wait() asks whether the execution is in a terminal state
    settings = {
        "task runner": {
            "value": "io.kestra.plugin.core.runner.Process (python in the Kestra image)",
            "default": "io.kestra.plugin.scripts.runner.docker.Docker",
            "why": "the Docker runner needs the Docker socket mounted into Kestra; see stacks/kestra",
        },
        "packageManager": {
            "value": "PIP",
            "default": "UV",
            "why": "uv may be missing from the image (then fetched mid-task); the body needs no packages",
        },
    }

    def connect(self, deployment: Deployment) -> None:
        self._kestra = api_client(deployment.endpoints)
        self._flow = deployment.names

    def deploy(self, deployment: Deployment) -> None:
        wl = deployment.workload
        flow = yaml.safe_dump(flow_definition(self._flow, wl.shape, wl.tasks), sort_keys=False)
        self._call("create flow", self._kestra.flows.create_flow, TENANT, flow)

    def submit(self, request: WorkflowRequest) -> Any:
        inputs = {"workflow_id": request.workflow_id, "op": request.op, "n": str(request.n)}
        return self._call(
            "create execution", self._kestra.executions.create_execution, TENANT, NAMESPACE, self._flow, inputs=inputs
        ).id

    def wait(self, handle: Any, timeout_s: float) -> str:
        current = poll_until(
            f"kestra execution {handle} not complete",
            lambda: _name(self._execution(handle).state.current),
            timeout_s,
            self.wait_poll_s,
            done=lambda state: state in TERMINAL,
        )
        return "completed" if current == "SUCCESS" else "failed"

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        return workflow_record(self._execution(handle))

    def versions(self) -> dict[str, str]:
        return {"kestrapy": version("kestrapy")}

    def close(self) -> None:
        if hasattr(self, "_kestra"):
            self._kestra._session.close()  # the SDK offers no close of its own

    def _execution(self, handle: str):
        return self._call("get execution", self._kestra.executions.execution, handle, TENANT)

    @staticmethod
    def _call(what: str, fn, *args, **kw):
        from kestrapy.exceptions import ApiException  # lazy: the SDK; loaded by the run that uses it

        try:
            return fn(*args, **kw)
        except ApiException as err:  # one line: the call, the status and the start of Kestra's answer
            body = " ".join(str(err.body or "").split())[:200]
            raise BenchError(f"kestra {what}: HTTP {err.status} {err.reason or ''}: {body}".rstrip(": ")) from None
