"""Airflow adapter: one DAG per run, written where the DAG processor reads it; DAG runs triggered and
read through Airflow 3's REST API (v2) with a JWT from the simple auth manager; engine times from the
DAG run and its task instances.

Airflow's official client package (apache-airflow-client) is not in the harness's lock, so the
handful of REST calls are made with httpx, which is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.load.schedule import HttpTarget
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.platforms.base import Adapter, Deployment, request_params
from harness.platforms.mechanics import epoch_ns, poll_until

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget

DAG_SOURCE = REPO_ROOT / "harness" / "workers" / "airflow_dag.py"
DEPLOY_TIMEOUT_S = 180  # the DAG processor finds the file (refresh interval) and parses it
DEPLOY_POLL_S = 0.5
PAGE = 100  # Airflow's default [api] maximum_page_limit
FINAL = {"success", "failed"}
_DAG_ID = re.compile(r"[^A-Za-z0-9_.-]")


class AirflowAdapter(Adapter):
    wait_poll_s = 0.1  # how often wait() asks the API whether a DAG run is final
    settings = {
        "dag.task": {
            "value": "PythonOperator(do_xcom_push=False), retries 0",
            "default": "XCom push of the return value",
            "why": "the task body returns nothing to the engine, so no XCom round trip is added per task",
        },
        "dag.is_paused_upon_creation": {
            "value": False,
            "default": "[core] dags_are_paused_at_creation (true)",
            "why": "the run's DAG is triggered as soon as it is parsed",
        },
    }

    def connect(self, deployment: Deployment) -> None:
        import httpx  # lazy: only the HTTP submission path needs it

        self._deployment = deployment
        ep = deployment.endpoints
        self._http = httpx.Client(base_url=ep["api"], timeout=30)
        got = self._http.post("/auth/token", json={"username": ep["username"], "password": ep["password"]})
        if got.status_code != 201:
            raise BenchError(f"airflow: login as {ep['username']!r} refused: HTTP {got.status_code} {got.text[:120]}")
        self._http.headers["Authorization"] = f"Bearer {got.json()['access_token']}"
        self._dag_id = _DAG_ID.sub("_", deployment.names)

    def deploy(self, deployment: Deployment) -> None:
        """Write the DAG file (and its shape beside it), then wait until the API serves the parsed DAG."""
        folder = Path(deployment.endpoints["dags_folder"])
        folder.mkdir(parents=True, exist_ok=True)
        wl = deployment.workload
        config = {
            "dag_id": self._dag_id,
            "shape": wl.shape,
            "tasks": wl.tasks,
            "timeout_s": wl.timeout_s,
            "stamps_dir": deployment.endpoints.get("task_stamps_dir", str(deployment.stamps_dir)),
            "harness_path": deployment.endpoints.get("task_harness_path", str(REPO_ROOT)),
        }
        target = folder / f"{self._dag_id}.py"
        target.with_suffix(".json").write_text(json.dumps(config))
        staged = folder / f".{self._dag_id}.py.tmp"  # renamed in place: never parsed half-written
        shutil.copyfile(DAG_SOURCE, staged)
        os.replace(staged, target)
        poll_until(
            f"airflow: DAG {self._dag_id} not parsed by the DAG processor",
            self._dag_parsed,
            DEPLOY_TIMEOUT_S,
            DEPLOY_POLL_S,
            error=BenchError,
        )

    def submit(self, request: WorkflowRequest) -> Any:
        self._call(
            "POST",
            f"/api/v2/dags/{self._dag_id}/dagRuns",
            json={"dag_run_id": request.workflow_id, "logical_date": None, "conf": request.params()},
        )
        return request.workflow_id

    def http_target(self, deployment: Deployment) -> HttpTarget:
        """The REST call submit() makes, with the run's JWT; the DAG run id is the workflow id."""

        return HttpTarget(
            base_url=deployment.endpoints["api"],
            path=f"/api/v2/dags/{self._dag_id}/dagRuns",
            headers={"Authorization": self._http.headers["Authorization"]},
            body={
                "dag_run_id": "{workflow_id}",
                "logical_date": None,
                "conf": request_params(deployment.workload, "{workflow_id}"),
            },
        )

    def lookup(self, workflow_id: str) -> Any | None:
        return workflow_id  # the DAG run id is the workflow id: the handle submit() returns

    def wait(self, handle: Any, timeout_s: float) -> str:
        run = poll_until(
            f"DAG run {handle} not final",
            lambda: self._run(handle),
            timeout_s,
            self.wait_poll_s,
            done=lambda r: r["state"] in FINAL,
        )
        return "completed" if run["state"] == "success" else run["state"]

    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow:
        run = self._run(handle)
        wf = EngineWorkflow(
            status="completed" if run["state"] == "success" else run["state"],
            created_ns=epoch_ns(run["queued_at"]),
            started_ns=epoch_ns(run["start_date"]),
            finished_ns=epoch_ns(run["end_date"]),
        )
        for ti in self._task_instances(handle):
            if not re.fullmatch(r"t\d+", ti["task_id"]):
                raise BenchError(f"unexpected task {ti['task_id']!r} in DAG run {handle}")
            wf.tasks.append(
                EngineTask(
                    int(ti["task_id"][1:]),
                    created_ns=epoch_ns(ti["scheduled_when"]),
                    queued_ns=epoch_ns(ti["queued_when"]),
                    started_ns=epoch_ns(ti["start_date"]),
                    finished_ns=epoch_ns(ti["end_date"]),
                    attempts=max(1, ti["try_number"]),
                )
            )
        wf.tasks.sort(key=lambda task: task.index)
        return wf

    def versions(self) -> dict[str, str]:
        return {"airflow_api_server": self._call("GET", "/api/v2/version")["version"]}

    def close(self) -> None:
        if hasattr(self, "_http"):
            self._http.close()

    # -- REST calls ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw) -> dict:
        got = self._http.request(method, path, **kw)
        if got.status_code >= 300:
            detail = got.text.strip().splitlines()[0][:200] if got.text.strip() else ""
            raise BenchError(f"airflow: {method} {path}: HTTP {got.status_code} {detail}")
        return got.json()

    def _run(self, run_id: str) -> dict:
        return self._call("GET", f"/api/v2/dags/{self._dag_id}/dagRuns/{run_id}")

    def _task_instances(self, run_id: str) -> list[dict]:
        found: list[dict] = []
        while True:
            page = self._call(
                "GET",
                f"/api/v2/dags/{self._dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": PAGE, "offset": len(found), "order_by": "id"},
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def _dag_parsed(self) -> bool:
        """True once the API serves the DAG; an import error in its file is raised as one line."""
        got = self._http.get(f"/api/v2/dags/{self._dag_id}")
        if got.status_code == 200:
            return True
        errors = self._call("GET", "/api/v2/importErrors", params={"limit": PAGE})["import_errors"]
        for err in errors:
            if self._dag_id in err.get("filename", ""):
                last = [ln for ln in err.get("stack_trace", "").strip().splitlines() if ln.strip()][-1:] or ["?"]
                raise BenchError(f"airflow: the DAG file {err['filename']} does not import: {last[0][:200]}")
        return False
