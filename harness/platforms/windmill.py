"""Windmill adapter: per run, one Python script and one flow whose steps run it (in sequence, or
in a parallel for-loop); jobs submitted and read through Windmill's HTTP API with the `wmill` client.

Windmill runs task bodies inside its own worker containers, so there are no host-side workers:
the compose file mounts the run's stamp folder into every worker container at STAMPS_MOUNT, and
the script is the harness's own task body (harness/workers/taskbody.py, standard library only) followed by
a `main` whose first line takes the start stamp.

Not yet run against a real Windmill: no Docker engine exists where this was written. The request
and response shapes follow Windmill's OpenAPI description (see stacks/windmill/README.md).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.platforms.base import STAMPS_MOUNT, Adapter, Deployment
from harness.platforms.mechanics import epoch_ns, poll_until, task_body_script

WORKSPACE = "bench"
FOLDER = "bench"
DEPLOY_TIMEOUT_S = 120  # for a worker to ping, then for the script's dependency lock
DEPLOY_POLL_S = 0.5
# Job kinds of a step that runs code: "script" for a step naming a script by path (ours); inline
# steps would run as "flowscript", or "preview" before the flow's lock job has run.
LEAF_KINDS = {"flowscript", "preview", "script"}


def step_script(stamps_dir: str = STAMPS_MOUNT) -> str:
    """The Python every step runs: the harness's task body, then Windmill's entry point, whose
    signature Windmill reads as the script's inputs and whose first line takes the start stamp."""
    return task_body_script(
        """
def main(workflow_id: str, index: int, op: str, n: int):
    start_ns = time.time_ns()
    run_task(workflow_id, index, op, n, start_ns, _bench_sink)
    return index
""",
        stamps_dir=stamps_dir,
    )


def _arg(expr: str) -> dict:
    return {"type": "javascript", "expr": expr}


def flow_value(shape: str, tasks: int, script_path: str, script_hash: str) -> dict:
    """The OpenFlow value for a workload shape: a chain of steps, or one parallel for-loop. Every
    step runs the run's script, pinned to the version deployed for this run."""

    def step(step_id: str, index_expr: str) -> dict:
        return {
            "id": step_id,
            "value": {
                "type": "script",
                "path": script_path,
                "hash": script_hash,
                "input_transforms": {
                    "workflow_id": _arg("flow_input.workflow_id"),
                    "index": _arg(index_expr),
                    "op": _arg("flow_input.op"),
                    "n": _arg("flow_input.n"),
                },
            },
        }

    if shape == "chain":
        return {"modules": [step(f"t{i}", str(i)) for i in range(tasks)]}
    if shape == "fanout":
        return {
            "modules": [
                {
                    "id": "fan",
                    "value": {
                        "type": "forloopflow",
                        "iterator": _arg("flow_input.indices"),
                        "skip_failures": False,
                        "parallel": True,
                        "modules": [step("t", "flow_input.iter.value")],
                    },
                }
            ]
        }
    raise BenchError(f"windmill adapter has no flow for shape {shape!r}")


def flow_schema() -> dict:
    props = {
        "workflow_id": {"type": "string"},
        "op": {"type": "string"},
        "n": {"type": "integer"},
        "indices": {"type": "array", "items": {"type": "integer"}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": props,
        "required": ["workflow_id", "op", "n"],
    }


def task_record(job: dict) -> EngineTask | None:
    """A leaf step's job -> the engine's record of that task (None for jobs that are not steps)."""
    index = (job.get("args") or {}).get("index")
    if index is None or job.get("job_kind") not in LEAF_KINDS:
        return None
    created, started = epoch_ns(job.get("created_at")), epoch_ns(job.get("started_at"))
    finished = epoch_ns(job.get("completed_at"))
    if finished is None and started is not None and job.get("duration_ms") is not None:
        finished = started + int(job["duration_ms"]) * 1_000_000
    # Windmill keeps created_at and scheduled_for, not a separate enqueue time: a step is queued when created.
    return EngineTask(int(index), created_ns=created, queued_ns=created, started_ns=started, finished_ns=finished)


def workflow_record(flow_job: dict, leaves: list[dict]) -> EngineWorkflow:
    if flow_job.get("type") != "CompletedJob":
        status = "running"
    else:
        status = "completed" if flow_job.get("success") else "failed"
    started = epoch_ns(flow_job.get("started_at"))
    finished = epoch_ns(flow_job.get("completed_at"))
    if finished is None and started is not None and flow_job.get("duration_ms") is not None:
        finished = started + int(flow_job["duration_ms"]) * 1_000_000
    tasks = [t for t in (task_record(j) for j in leaves) if t is not None]
    return EngineWorkflow(
        status=status,
        created_ns=epoch_ns(flow_job.get("created_at")),
        started_ns=started,
        finished_ns=finished,
        tasks=sorted(tasks, key=lambda t: t.index),
    )


class WindmillAdapter(Adapter):
    wait_poll_s = 0.02  # how often wait() asks whether the flow's job is complete
    settings = {
        "task body": {
            "value": "one python3 script per run; flow steps run it by path, pinned to its hash",
            "default": "n/a",
            "why": "the same task body as every platform",
        },
    }

    def connect(self, deployment: Deployment) -> None:
        from wmill import Windmill  # lazy: the SDK; loaded by the run that uses it

        ep = deployment.endpoints
        self._wm = Windmill(base_url=ep["base_url"], token=ep["token"], workspace=WORKSPACE)
        self._flow = f"f/{FOLDER}/{deployment.names.replace('-', '_')}"
        self._script = self._flow + "_task"

    def deploy(self, deployment: Deployment) -> None:
        wm, wl = self._wm, deployment.workload
        # Both exist after the first run on a stack; "already exists" is not an error here.
        wm.post("/workspaces/create", json={"id": WORKSPACE, "name": WORKSPACE}, raise_for_status=False)
        wm.post(f"/w/{WORKSPACE}/folders/create", json={"name": FOLDER}, raise_for_status=False)
        # a worker must have pinged before any job is sent, the script's dependency lock job included
        self._until(
            "a worker of group 'default'",
            lambda: any(w.get("worker_group") == "default" for w in wm.get("/workers/list").json()),
        )
        script_hash = (
            wm.post(
                f"/w/{WORKSPACE}/scripts/create",
                json={
                    "path": self._script,
                    "summary": f"task body ({deployment.run_id})",
                    "description": "orchestrator-bench",
                    "content": step_script(),
                    "language": "python3",
                },
            )
            .text.strip()
            .strip('"')
        )
        self._until("the script's dependency lock", lambda: self._script_locked(script_hash))
        wm.post(
            f"/w/{WORKSPACE}/flows/create",
            json={
                "path": self._flow,
                "summary": f"{wl.name} ({deployment.run_id})",
                "description": "orchestrator-bench",
                "schema": flow_schema(),
                "value": flow_value(wl.shape, wl.tasks, self._script, script_hash),
            },
        )

    def _script_locked(self, script_hash: str) -> bool:
        """Windmill resolves a new script's dependencies in a job of its own; steps may run it after."""
        status = self._wm.get(f"/w/{WORKSPACE}/scripts/deployment_status/h/{script_hash}").json()
        if status.get("lock_error_logs"):
            log = " ".join(status["lock_error_logs"].split())
            raise BenchError(f"windmill could not lock {self._script}: {log[:200]}")
        return status.get("lock") is not None

    @staticmethod
    def _until(what: str, done) -> None:
        poll_until(f"windmill: still waiting for {what}", done, DEPLOY_TIMEOUT_S, DEPLOY_POLL_S, error=BenchError)

    def submit(self, request: WorkflowRequest) -> Any:
        args = {
            "workflow_id": request.workflow_id,
            "op": request.op,
            "n": request.n,
            "indices": list(range(request.tasks)),
        }
        resp = self._wm.post(f"/w/{WORKSPACE}/jobs/run/f/{self._flow}", json=args)
        return resp.text.strip().strip('"')

    def wait(self, handle: Any, timeout_s: float) -> str:
        state = poll_until(
            f"windmill job {handle} not complete",
            lambda: self._wm.get(f"/w/{WORKSPACE}/jobs_u/completed/get_result_maybe/{handle}").json(),
            timeout_s,
            self.wait_poll_s,
            done=lambda state: bool(state.get("completed")),
        )
        return "completed" if state.get("success") else "failed"

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        flow_job = self._job(handle)
        leaves, frontier, seen = [], [handle], set()
        while frontier:  # steps may sit under for-loop iteration jobs: walk parent_job links down
            parent = frontier.pop()
            children = self._wm.get(f"/w/{WORKSPACE}/jobs/list", params={"parent_job": parent, "per_page": 1000}).json()
            for child in children:
                if child["id"] in seen:
                    continue
                seen.add(child["id"])
                if child.get("job_kind") in LEAF_KINDS:
                    # jobs/list sends "args": null (it does not select them): the step's index needs its own read
                    leaves.append(child if child.get("args") else self._job(child["id"]))
                else:
                    frontier.append(child["id"])
        return workflow_record(flow_job, leaves)

    def versions(self) -> dict[str, str]:
        out = {"wmill": version("wmill")}
        try:
            out["windmill server"] = self._wm.get("/version").text.strip()
        except Exception:
            pass
        return out

    def close(self) -> None:
        if hasattr(self, "_wm"):
            self._wm.client.close()

    def _job(self, job_id: str) -> dict:
        return self._wm.get(f"/w/{WORKSPACE}/jobs_u/get/{job_id}", params={"no_logs": "true", "no_code": "true"}).json()
