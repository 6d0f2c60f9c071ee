"""Prefect adapter: flow runs created from a served deployment; engine times from flow and task runs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from harness.load.schedule import HttpTarget, RetryPolicy
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.spec import WorkerPool
from harness.platforms.base import Adapter, Deployment, replicas, request_params
from harness.platforms.mechanics import epoch_ns, poll_until, python_worker
from harness.stack.service import ServiceSpec

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget

# How often the worker's runner asks the API for scheduled flow runs (Runner(query_seconds=...)).
PREFECT_RUNNER_POLL_S = float(os.environ.get("BENCH_PREFECT_POLL_S", "1"))
RECORDS_TIMEOUT_S = 60  # task run states reach the database asynchronously, through events
RECORDS_POLL_S = 0.2


class PrefectAdapter(Adapter):
    wait_poll_s = 0.05  # how often wait() asks whether a flow run is final
    settings = {
        "runner.query_seconds": {
            "value": PREFECT_RUNNER_POLL_S,
            "default": 10,
            "why": "the runner's poll for scheduled flow runs bounds scheduling latency; "
            "set BENCH_PREFECT_POLL_S=10 to measure the default",
        },
    }

    def pool_settings(self, pool: WorkerPool) -> dict[str, dict]:
        """A Prefect worker (here a Runner) takes flow runs, each in a process of its own, and runs
        their tasks on the flow's task runner: the workload's slots bound both."""
        why = "the workload's workers.slots"
        return {
            "runner.limit": {
                "value": pool.slots,
                "default": 5,
                "why": why + ": flow runs a runner runs at once (PREFECT_RUNNER_PROCESS_LIMIT)",
            },
            "flow.task_runner": {
                "value": f"ThreadPoolTaskRunner(max_workers={pool.slots})",
                "default": "ThreadPoolTaskRunner()",
                "why": why + ": tasks running at once in a flow run",
            },
        }

    def connect(self, deployment: Deployment) -> None:
        from prefect.client.orchestration import SyncPrefectClient  # lazy: the SDK

        self._deployment = deployment
        self._client = SyncPrefectClient(deployment.endpoints["api_url"])
        self._client.__enter__()
        self._name = deployment.names

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        env = {
            "PREFECT_API_URL": deployment.endpoints["api_url"],
            "PREFECT_HOME": str(deployment.run_dir / "worker-home"),
            "BENCH_DEPLOYMENT": self._name,
            "BENCH_PREFECT_POLL_S": str(PREFECT_RUNNER_POLL_S),
        }
        pool = deployment.workload.workers
        if pool:  # the runner's limit on concurrent flow runs (Runner(limit=...)), where the workload sets it
            env["BENCH_SLOTS"] = str(pool.slots)
        return replicas(
            python_worker(deployment, "prefect_worker", env, ready_timeout_s=120), pool.processes if pool else 1
        )

    def deploy(self, deployment: Deployment) -> None:
        self._deployment_id = self._client.read_deployment_by_name(f"bench-flow/{self._name}").id

    def http_target(self, deployment: Deployment) -> HttpTarget:
        """Prefect's REST call behind create_flow_run_from_deployment; the run is named by its
        workflow id so lookup() can find it.

        With its default SQLite database the server answers 503 when a write finds the database
        locked (`is_client_retryable_exception`: SQLITE_BUSY), and Prefect's client retries 429, 502
        and 503 (PREFECT_CLIENT_MAX_RETRIES=5, 2**n s with ±20% jitter), and with the same count and
        waits a request whose connection failed (its `retry_exceptions`: httpx's ReadError,
        WriteError, RemoteProtocolError for "a uvicorn bug", PrefectHQ/prefect#7512). Seen here: one
        503 at 0.5 submissions/s in 1 of 3 short sweeps; at 2/s, in a sweep before this retry (not
        kept), 9 of 160 submissions whose retry after a 503 met a connection closed before the answer.
        The generator retries the same way; the workflow id is the idempotency key, so a retry can
        never start a second run."""

        retry = RetryPolicy(
            statuses=frozenset({429, 502, 503}),
            max_retries=5,
            backoff_s=2.0,
            jitter=0.2,
            transport_errors=True,
            source="Prefect's client defaults: PREFECT_CLIENT_MAX_RETRIES=5, PREFECT_CLIENT_RETRY_JITTER_FACTOR=0.2",
        )
        return HttpTarget(
            base_url=deployment.endpoints["api_url"].removesuffix("/api"),
            path=f"/api/deployments/{self._deployment_id}/create_flow_run",
            body={
                "name": "{workflow_id}",
                "idempotency_key": "{workflow_id}",
                "parameters": request_params(deployment.workload, "{workflow_id}"),
            },
            retry=retry,
        )

    def lookup(self, workflow_id: str) -> Any | None:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName  # lazy: the SDK
        from prefect.client.schemas.sorting import FlowRunSort  # lazy: the SDK

        # sort is explicit: the client sends null by default, which the 3.8 server refuses (422)
        runs = self._client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[workflow_id])), limit=2, sort=FlowRunSort.ID_DESC
        )
        return runs[0].id if len(runs) == 1 else None

    def submit(self, request: WorkflowRequest) -> Any:
        return self._client.create_flow_run_from_deployment(self._deployment_id, parameters=request.params()).id

    def wait(self, handle: Any, timeout_s: float) -> str:
        run = poll_until(
            f"flow run {handle} not final",
            lambda: self._client.read_flow_run(handle),
            timeout_s,
            self.wait_poll_s,
            done=lambda r: r.state is not None and r.state.is_final(),
        )
        return "completed" if run.state.is_completed() else run.state.type.value.lower()

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # lazy: the SDK
        from prefect.client.schemas.sorting import TaskRunSort  # lazy: the SDK

        run = self._client.read_flow_run(handle)
        wf = EngineWorkflow(
            status="completed" if run.state and run.state.is_completed() else str(run.state_type),
            created_ns=epoch_ns(run.expected_start_time or run.created),
            started_ns=epoch_ns(run.start_time),
            finished_ns=epoch_ns(run.end_time),
        )
        flt = FlowRunFilter(id=FlowRunFilterId(any_=[handle]))

        def settled(runs) -> bool:
            final = [t for t in runs if t.state is not None and t.state.is_final() and t.end_time is not None]
            return len(final) >= request.tasks

        # Past the timeout the task runs recorded so far are used; the stamps still decide correctness.
        runs = poll_until(
            f"task runs of {handle}",
            lambda: self._client.read_task_runs(
                flow_run_filter=flt, limit=request.tasks + 50, sort=TaskRunSort.EXPECTED_START_TIME_ASC
            ),
            RECORDS_TIMEOUT_S,
            RECORDS_POLL_S,
            done=settled,
            error=None,
        )
        for t in runs:
            try:
                index = int(t.name.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                raise BenchError(f"unexpected task run name {t.name!r} in flow run {handle}") from None
            wf.tasks.append(
                EngineTask(
                    index,
                    created_ns=epoch_ns(t.created),
                    queued_ns=epoch_ns(t.expected_start_time or t.created),
                    started_ns=epoch_ns(t.start_time),
                    finished_ns=epoch_ns(t.end_time),
                    attempts=max(1, t.run_count),
                )
            )
        wf.tasks.sort(key=lambda task: task.index)
        return wf

    def versions(self) -> dict[str, str]:
        return {"prefect_server": self._client.api_version()}

    def close(self) -> None:
        if hasattr(self, "_client"):
            try:
                self._client.__exit__(None, None, None)
            except Exception:
                pass
