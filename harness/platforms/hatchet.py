"""Hatchet adapter: DAG workflow runs triggered with the Python SDK; engine times from the run details."""
from __future__ import annotations

import re
import time
from typing import Any

from ..errors import BenchError
from ..paths import REPO_ROOT
from ..stack.service import ServiceSpec
from ..taskbody import STAMPS_DIR_ENV
from .base import Adapter, Deployment, EngineTask, EngineWorkflow, EventLoop, WorkflowRequest

WORKER_SLOTS = 100
TASK_NAME = re.compile(r"^t(\d+)\b")  # display names look like "t3-1795482885488"
RECORDS_TIMEOUT_S = 60  # run details are read from tables the engine fills asynchronously


def _ns(dt) -> int | None:
    # The API returns Go's zero time (year 1) for a time it has not recorded yet.
    return None if dt is None or dt.year < 2000 else int(dt.timestamp() * 1e9)


def _index(display_name: str | None) -> int | None:
    match = TASK_NAME.match(display_name or "")
    return int(match.group(1)) if match else None


def client_env(deployment: Deployment) -> dict[str, str]:
    return {"BENCH_HATCHET_TOKEN": deployment.endpoints["token"], "BENCH_HATCHET_GRPC": deployment.endpoints["grpc"],
            "BENCH_HATCHET_API": deployment.endpoints["api"]}


class HatchetAdapter(Adapter):
    name = "hatchet"
    stack = "hatchet"
    settings = {
        "worker.slots": {"value": WORKER_SLOTS, "default": "SDK default",
                         "why": "fanout-100 needs 100 concurrent task slots on the one worker"},
        "HATCHET_CLIENT_TLS_STRATEGY": {"value": "none", "default": "tls", "why": "loopback gRPC without TLS"},
    }

    def connect(self, deployment: Deployment) -> None:
        from ..workers.hatchet_worker import BenchInput, client
        self._deployment = deployment
        self._loop = EventLoop()
        ep = deployment.endpoints
        self._hatchet = client(ep["token"], ep["grpc"], ep["api"])
        self._name = deployment.names
        self._workflow = self._hatchet.workflow(name=self._name, input_validator=BenchInput)
        self._input = BenchInput

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        wl = deployment.workload
        return [ServiceSpec(
            name="worker", role="worker", cwd=REPO_ROOT,
            command=[str(deployment.env_bin / "python"), "-m", "harness.workers.hatchet_worker"],
            env={**client_env(deployment), "BENCH_WORKFLOW": self._name, "BENCH_SHAPE": wl.shape,
                 "BENCH_TASKS": str(wl.tasks), "BENCH_TIMEOUT_S": str(wl.timeout_s),
                 "BENCH_SLOTS": str(WORKER_SLOTS), STAMPS_DIR_ENV: str(deployment.stamps_dir),
                 "PYTHONPATH": str(REPO_ROOT)})]

    def deploy(self, deployment: Deployment) -> None:
        """Wait until the engine lists an active worker for this run's workflow."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers = self._hatchet.workers.list().rows or []
            if any(w.name == self._name and str(w.status).upper().endswith("ACTIVE") for w in workers):
                return
            time.sleep(0.2)
        raise BenchError(f"no active Hatchet worker for {self._name} after 120s")

    def submit(self, request: WorkflowRequest) -> Any:
        return self._run(self._workflow.aio_run(
            self._input(workflow_id=request.workflow_id, op=request.op, n=request.n), wait_for_result=False))

    def wait(self, handle: Any, timeout_s: float) -> str:
        from hatchet_sdk.exceptions import FailedTaskRunExceptionGroup
        return self._loop.outcome(handle.aio_result(), timeout_s, FailedTaskRunExceptionGroup, handle.workflow_run_id)

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        deadline = time.monotonic() + RECORDS_TIMEOUT_S
        while True:
            details = self._hatchet.runs.get(handle.workflow_run_id)
            run = details.run
            status = str(run.status.value if hasattr(run.status, "value") else run.status).lower()
            done = [t for t in details.tasks if _ns(t.finished_at) is not None]
            final = status in ("completed", "failed", "cancelled") and _ns(run.finished_at) is not None
            if (final and len(done) >= request.tasks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        wf = EngineWorkflow(status="completed" if status == "completed" else status,
                            created_ns=_ns(run.created_at), started_ns=_ns(run.started_at),
                            finished_ns=_ns(run.finished_at))
        for t in details.tasks:
            index = _index(t.display_name)
            if index is None:
                raise BenchError(f"unexpected Hatchet task name {t.display_name!r}")
            # Queued = inserted into the engine's task queue table. The timings view's queued_at is
            # written asynchronously and was seen after the task had finished, so it is not used.
            created = _ns(t.created_at) or _ns(t.task_inserted_at)
            wf.tasks.append(EngineTask(index, created_ns=created, queued_ns=created,
                                       started_ns=_ns(t.started_at), finished_ns=_ns(t.finished_at),
                                       attempts=(t.retry_count or 0) + 1))
        wf.tasks.sort(key=lambda task: task.index)
        return wf

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version
        return {"hatchet-sdk": version("hatchet-sdk")}

    def close(self) -> None:
        if hasattr(self, "_loop"):
            self._loop.close()

    def _run(self, coro):
        return self._loop.run(coro)
