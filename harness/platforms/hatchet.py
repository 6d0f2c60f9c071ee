"""Hatchet adapter: DAG workflow runs triggered with the Python SDK; engine times from the run details."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from harness.load.schedule import HttpTarget
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.spec import WorkerPool
from harness.platforms.base import Adapter, Deployment, EventLoop, replicas
from harness.platforms.mechanics import epoch_ns, poll_until, python_worker
from harness.stack.service import ServiceSpec

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget

WORKER_SLOTS = 100
TASK_NAME = re.compile(r"^t(\d+)\b")  # display names look like "t3-1795482885488"
DEPLOY_TIMEOUT_S = 120
DEPLOY_POLL_S = 0.2
RECORDS_TIMEOUT_S = 60  # run details are read from tables the engine fills asynchronously
RECORDS_POLL_S = 0.2
FINAL = ("completed", "failed", "cancelled")


def _index(display_name: str | None) -> int | None:
    match = TASK_NAME.match(display_name or "")
    return int(match.group(1)) if match else None


def _status(run) -> str:
    return str(run.status.value if hasattr(run.status, "value") else run.status).lower()


def records_settled(details, tasks: int) -> bool:
    """The run is final and every task has its finish, and its start if it completed. Each is the
    time of a worker event the engine writes asynchronously (the start: the later of the SDK's two
    STARTED events). The run's final status was seen here while 14 of a fan-out's 100 completed
    tasks still lacked their start, which arrived ~10 s later; read then, they counted as missing."""
    final = _status(details.run) in FINAL and epoch_ns(details.run.finished_at) is not None
    whole = {
        _index(t.display_name)
        for t in details.tasks
        if epoch_ns(t.finished_at) is not None and (epoch_ns(t.started_at) is not None or _status(t) != "completed")
    }
    return final and whole >= set(range(tasks))


def client_env(deployment: Deployment) -> dict[str, str]:
    return {
        "BENCH_HATCHET_TOKEN": deployment.endpoints["token"],
        "BENCH_HATCHET_GRPC": deployment.endpoints["grpc"],
        "BENCH_HATCHET_API": deployment.endpoints["api"],
    }


class HatchetAdapter(Adapter):
    wait_poll_s = None  # the SDK streams the run's result from the engine
    settings = {
        "worker.slots": {
            "value": WORKER_SLOTS,
            "default": "SDK default",
            "why": "fanout-100 needs 100 concurrent task slots on the one worker",
        },
        "HATCHET_CLIENT_TLS_STRATEGY": {"value": "none", "default": "tls", "why": "loopback gRPC without TLS"},
    }

    def pool_settings(self, pool: WorkerPool) -> dict[str, dict]:
        return {
            "worker.slots": {
                "value": pool.slots,
                "default": "SDK default",
                "why": "the workload's workers.slots: tasks one worker process runs at once",
            }
        }

    def connect(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._loop = EventLoop()
        ep = deployment.endpoints
        from harness.workers.hatchet_worker import BenchInput, client  # lazy: hatchet_sdk (seconds, grpc)

        self._hatchet = client(ep["token"], ep["grpc"], ep["api"])
        self._name = deployment.names
        self._workflow = self._hatchet.workflow(name=self._name, input_validator=BenchInput)
        self._input = BenchInput

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        wl = deployment.workload
        pool = wl.workers
        env = {
            **client_env(deployment),
            "BENCH_WORKFLOW": self._name,
            "BENCH_SHAPE": wl.shape,
            "BENCH_TASKS": str(wl.tasks),
            "BENCH_TIMEOUT_S": str(wl.timeout_s),
            "BENCH_SLOTS": str(pool.slots if pool else WORKER_SLOTS),
        }
        # No ready file: the worker is ready when the engine lists it, which deploy() waits for.
        return replicas(python_worker(deployment, "hatchet_worker", env), pool.processes if pool else 1)

    def deploy(self, deployment: Deployment) -> None:
        """Wait until the engine lists an active worker for this run's workflow."""

        def active() -> bool:
            workers = self._hatchet.workers.list().rows or []
            return any(w.name == self._name and str(w.status).upper().endswith("ACTIVE") for w in workers)

        poll_until(
            f"no active Hatchet worker for {self._name}", active, DEPLOY_TIMEOUT_S, DEPLOY_POLL_S, error=BenchError
        )

    def submit(self, request: WorkflowRequest) -> Any:
        return self._run(
            self._workflow.aio_run(
                self._input(workflow_id=request.workflow_id, op=request.op, n=request.n), wait_for_result=False
            )
        )

    def http_target(self, deployment: Deployment) -> HttpTarget:
        """Hatchet's REST trigger (what hatchet.runs.create calls), with the run's API token; the
        workflow id also goes into the run's additional metadata, so lookup() can find it."""

        wl = deployment.workload
        return HttpTarget(
            base_url=deployment.endpoints["api"],
            path=f"/api/v1/stable/tenants/{self._hatchet.config.tenant_id}/workflow-runs/trigger",
            headers={"Authorization": f"Bearer {deployment.endpoints['token']}"},
            body={
                "workflowName": self._name,
                "input": {"workflow_id": "{workflow_id}", "op": wl.task.op, "n": wl.task.n},
                "additionalMetadata": {"workflow_id": "{workflow_id}"},
            },
        )

    def lookup(self, workflow_id: str) -> Any | None:
        rows = self._hatchet.runs.list(additional_metadata={"workflow_id": workflow_id}, limit=2).rows or []
        # the SDK's own reference: the handle submit() returns, so wait() and records() take it alike
        return self._hatchet.runs.get_run_ref(rows[0].workflow_run_external_id) if len(rows) == 1 else None

    def wait(self, handle: Any, timeout_s: float) -> str:
        from hatchet_sdk.exceptions import FailedTaskRunExceptionGroup  # lazy: the SDK

        return self._loop.outcome(handle.aio_result(), timeout_s, FailedTaskRunExceptionGroup, handle.workflow_run_id)

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        # Past the timeout the details recorded so far are used; the stamps still decide correctness.
        run_id = handle.workflow_run_id
        details = poll_until(
            f"details of {run_id}",
            lambda: self._hatchet.runs.get(run_id),
            RECORDS_TIMEOUT_S,
            RECORDS_POLL_S,
            done=lambda d: records_settled(d, request.tasks),
            error=None,
        )
        run = details.run
        wf = EngineWorkflow(
            status=_status(run),
            created_ns=epoch_ns(run.created_at),
            started_ns=epoch_ns(run.started_at),
            finished_ns=epoch_ns(run.finished_at),
        )
        for t in details.tasks:
            index = _index(t.display_name)
            if index is None:
                raise BenchError(f"unexpected Hatchet task name {t.display_name!r}")
            # Queued = inserted into the engine's task queue table. The timings view's queued_at is
            # written asynchronously and was seen after the task had finished, so it is not used.
            created = epoch_ns(t.created_at) or epoch_ns(t.task_inserted_at)
            wf.tasks.append(
                EngineTask(
                    index,
                    created_ns=created,
                    queued_ns=created,
                    started_ns=epoch_ns(t.started_at),
                    finished_ns=epoch_ns(t.finished_at),
                    attempts=(t.retry_count or 0) + 1,
                )
            )
        wf.tasks.sort(key=lambda task: task.index)
        return wf

    def versions(self) -> dict[str, str]:
        return {"hatchet-sdk": version("hatchet-sdk")}

    def close(self) -> None:
        if hasattr(self, "_loop"):
            self._loop.close()

    def _run(self, coro):
        return self._loop.run(coro)
