"""Prefect adapter: flow runs created from a served deployment; engine times from flow and task runs."""
from __future__ import annotations

import os
import time
from typing import Any

from ..errors import BenchError
from ..paths import REPO_ROOT
from ..stack.service import ReadyCheck, ServiceSpec
from ..taskbody import STAMPS_DIR_ENV
from .base import Adapter, Deployment, EngineTask, EngineWorkflow, WorkflowRequest

POLL_S = float(os.environ.get("BENCH_PREFECT_POLL_S", "1"))
WAIT_POLL_S = 0.05       # how often the adapter asks whether a flow run is final
RECORDS_TIMEOUT_S = 60   # task run states reach the database asynchronously, through events


def _ns(dt) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1e9)


class PrefectAdapter(Adapter):
    name = "prefect"
    stack = "prefect"
    settings = {
        "runner.query_seconds": {"value": POLL_S, "default": 10,
                                 "why": "the runner's poll for scheduled flow runs bounds scheduling latency; "
                                        "set BENCH_PREFECT_POLL_S=10 to measure the default"},
    }

    def connect(self, deployment: Deployment) -> None:
        from prefect.client.orchestration import SyncPrefectClient
        self._deployment = deployment
        self._client = SyncPrefectClient(deployment.endpoints["api_url"])
        self._client.__enter__()
        self._name = deployment.names

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        ready = deployment.run_dir / "prefect-worker.ready"
        return [ServiceSpec(
            name="worker", role="worker", cwd=REPO_ROOT,
            command=[str(deployment.env_bin / "python"), "-m", "harness.workers.prefect_worker"],
            env={"PREFECT_API_URL": deployment.endpoints["api_url"], "PREFECT_HOME": str(deployment.run_dir / "worker-home"),
                 "BENCH_DEPLOYMENT": self._name, "BENCH_PREFECT_POLL_S": str(POLL_S),
                 "BENCH_READY_FILE": str(ready), STAMPS_DIR_ENV: str(deployment.stamps_dir),
                 "PYTHONPATH": str(REPO_ROOT)},
            ready=ReadyCheck(file=str(ready), timeout_s=120))]

    def deploy(self, deployment: Deployment) -> None:
        self._deployment_id = self._client.read_deployment_by_name(f"bench-flow/{self._name}").id

    def submit(self, request: WorkflowRequest) -> Any:
        return self._client.create_flow_run_from_deployment(self._deployment_id, parameters=request.params()).id

    def wait(self, handle: Any, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self._client.read_flow_run(handle)
            if run.state is not None and run.state.is_final():
                return "completed" if run.state.is_completed() else run.state.type.value.lower()
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {handle} not final after {timeout_s}s")
            time.sleep(WAIT_POLL_S)

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
        from prefect.client.schemas.sorting import TaskRunSort
        run = self._client.read_flow_run(handle)
        wf = EngineWorkflow(status="completed" if run.state and run.state.is_completed() else str(run.state_type),
                            created_ns=_ns(run.expected_start_time or run.created), started_ns=_ns(run.start_time),
                            finished_ns=_ns(run.end_time))
        flt = FlowRunFilter(id=FlowRunFilterId(any_=[handle]))
        deadline = time.monotonic() + RECORDS_TIMEOUT_S
        while True:
            runs = self._client.read_task_runs(flow_run_filter=flt, limit=request.tasks + 50,
                                               sort=TaskRunSort.EXPECTED_START_TIME_ASC)
            final = [t for t in runs if t.state is not None and t.state.is_final() and t.end_time is not None]
            if len(final) >= request.tasks or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for t in runs:
            try:
                index = int(t.name.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                raise BenchError(f"unexpected task run name {t.name!r} in flow run {handle}") from None
            wf.tasks.append(EngineTask(index, created_ns=_ns(t.created), queued_ns=_ns(t.expected_start_time or t.created),
                                       started_ns=_ns(t.start_time), finished_ns=_ns(t.end_time),
                                       attempts=max(1, t.run_count)))
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
