"""Temporal adapter: workflows started with the Python SDK client, engine times from workflow history."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from harness.load.schedule import HttpTarget
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.spec import WorkerPool
from harness.platforms.base import Adapter, Deployment, EventLoop, replicas, request_params
from harness.platforms.mechanics import python_worker
from harness.stack.service import ServiceSpec

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget


class TemporalAdapter(Adapter):
    wait_poll_s = None  # the SDK long-polls for the workflow's result
    settings = {
        "worker.activity_executor": {
            "value": "ThreadPoolExecutor(max_workers=100)",
            "default": "none (required)",
            "why": "synchronous Python activities need an executor; sized for fanout-100",
        },
        "activity.start_to_close_timeout": {
            "value": "workload timeout_s",
            "default": "none (required)",
            "why": "the SDK requires a timeout on every activity",
        },
    }

    def pool_settings(self, pool: WorkerPool) -> dict[str, dict]:
        why = "the workload's workers.slots: activities one worker process runs at once"
        return {
            "worker.activity_executor": {
                "value": f"ThreadPoolExecutor(max_workers={pool.slots})",
                "default": "none (required)",
                "why": why,
            },
            "worker.max_concurrent_activities": {"value": pool.slots, "default": 100, "why": why},
        }

    def connect(self, deployment: Deployment) -> None:
        from temporalio.client import Client  # lazy: the SDK (seconds to import); loaded by the run that uses it

        self._deployment = deployment
        self._loop = EventLoop()
        self._queue = deployment.names
        self._client = self._run(
            Client.connect(deployment.endpoints["frontend"], namespace=deployment.endpoints["namespace"])
        )

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        env = {
            "TEMPORAL_ADDRESS": deployment.endpoints["frontend"],
            "TEMPORAL_NAMESPACE": deployment.endpoints["namespace"],
            "BENCH_TASK_QUEUE": self._queue,
        }
        pool = deployment.workload.workers
        if pool:  # the activity executor's threads, where the workload sets them
            env["BENCH_SLOTS"] = str(pool.slots)
        return replicas(
            python_worker(deployment, "temporal_worker", env, ready_timeout_s=60), pool.processes if pool else 1
        )

    def deploy(self, deployment: Deployment) -> None:
        pass  # workflow types need no registration; the worker polls the run's task queue

    def http_target(self, deployment: Deployment) -> HttpTarget:
        """StartWorkflowExecution through the frontend's HTTP API (grpc-gateway): the workflow's
        argument is given as plain JSON, which the API turns into a json/plain payload."""

        if "http" not in deployment.endpoints:
            raise BenchError(f"{self.name}: this deployment names no 'http' endpoint (the frontend's HTTP API)")
        ns = deployment.endpoints["namespace"]
        params = {
            **request_params(deployment.workload, "{workflow_id}"),
            "task_timeout_s": deployment.workload.timeout_s,
        }
        return HttpTarget(
            base_url=deployment.endpoints["http"],
            path=f"/api/v1/namespaces/{ns}/workflows/{{workflow_id}}",
            body={
                "workflowId": "{workflow_id}",
                "workflowType": {"name": "BenchWorkflow"},
                "taskQueue": {"name": self._queue},
                "input": [params],
            },
        )

    def lookup(self, workflow_id: str) -> Any | None:
        return self._client.get_workflow_handle(workflow_id)

    def submit(self, request: WorkflowRequest) -> Any:
        params = {**request.params(), "task_timeout_s": self._deployment.workload.timeout_s}
        return self._run(
            self._client.start_workflow("BenchWorkflow", params, id=request.workflow_id, task_queue=self._queue)
        )

    def wait(self, handle: Any, timeout_s: float) -> str:
        from temporalio.client import WorkflowFailureError  # lazy: the SDK

        return self._loop.outcome(handle.result(), timeout_s, WorkflowFailureError, handle.id)

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        from temporalio.api.enums.v1 import EventType  # lazy: the SDK

        history = self._run(handle.fetch_history())
        wf = EngineWorkflow(status="running")
        scheduled: dict[int, EngineTask] = {}
        for ev in history.events:
            t = ev.event_time.ToNanoseconds()
            kind = ev.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                wf.created_ns = t
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and wf.started_ns is None:
                wf.started_ns = t
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                wf.status, wf.finished_ns = "completed", t
            elif kind in (
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
            ):
                wf.status, wf.finished_ns = "failed", t
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = ev.activity_task_scheduled_event_attributes
                scheduled[ev.event_id] = EngineTask(int(attrs.activity_id), created_ns=t, queued_ns=t)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = ev.activity_task_started_event_attributes
                task = scheduled[attrs.scheduled_event_id]
                task.started_ns, task.attempts = t, attrs.attempt
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                scheduled[ev.activity_task_completed_event_attributes.scheduled_event_id].finished_ns = t
        wf.tasks = sorted(scheduled.values(), key=lambda task: task.index)
        return wf

    def versions(self) -> dict[str, str]:
        cli = self._deployment.env_bin / "temporal"
        done = subprocess.run([str(cli), "--version"], capture_output=True, text=True)
        return {"temporal_cli": done.stdout.strip()}

    def close(self) -> None:
        if hasattr(self, "_loop"):
            self._loop.close()

    def _run(self, coro):
        return self._loop.run(coro)


class TemporalDevAdapter(TemporalAdapter):
    """The same SDK worker against the CLI's single-process development server."""
