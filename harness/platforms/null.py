"""An in-process "orchestrator": a queue and worker threads, no server.

Runs the same task body and stamps as the real workers, so the driver's own overhead on
submit -> start can be measured, and the driver can be tested without any server. For open-loop
load it also serves an HTTP endpoint on loopback (POST /runs/<workflow id> with the run's
parameters as JSON) that enqueues into the same queue.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from harness.load.schedule import HttpTarget
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.platforms.base import Adapter, Deployment, request_params
from harness.workers.taskbody import StampSink, run_task

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget
    from harness.model.spec import Workload

# A delay slept before every task starts, in milliseconds: a slowed adapter for one test only
# (tests/test_claims_gate.py proves with it that .ci/reproduce-claims fails when a figure moves). It is
# read here and nowhere else, only when a run records its settings (settings_for), and a run with it
# recorded "test.inject_delay_ms" among its non-default settings: no figure taken with it passes for a
# normal one (the report and `bench compare` show the setting). Never set it outside that test.
INJECT_DELAY_ENV = "BENCH_TEST_INJECT_DELAY_MS"
INJECT_DELAY_SETTING = "test.inject_delay_ms"


def injected_delay_ms() -> float:
    """BENCH_TEST_INJECT_DELAY_MS as milliseconds (0 when unset or empty)."""
    raw = os.environ.get(INJECT_DELAY_ENV, "").strip()
    try:
        delay = float(raw or 0)
    except ValueError:
        raise BenchError(f"{INJECT_DELAY_ENV}={raw!r}: not a number of milliseconds") from None
    if not 0 <= delay < 60_000:
        raise BenchError(f"{INJECT_DELAY_ENV}={raw!r}: must lie in [0, 60000) milliseconds")
    return delay


@dataclass
class _NullRun:
    """One submitted workflow run: the handle submit() returns."""

    request: WorkflowRequest
    created_ns: int
    done: threading.Event = field(default_factory=threading.Event)
    record: EngineWorkflow | None = None


class NullAdapter(Adapter):
    wait_poll_s = None  # wait() blocks on an event the dispatcher sets
    _delay_s = 0.0  # BENCH_TEST_INJECT_DELAY_MS, set only where the run records it (settings_for)

    def settings_for(self, workload: Workload) -> dict[str, dict]:
        settings = super().settings_for(workload)
        delay_ms = injected_delay_ms()
        self._delay_s = delay_ms / 1000
        if not delay_ms:
            return settings
        why = f"{INJECT_DELAY_ENV}: a delay before every task, for the CI gate's test only"
        return {**settings, INJECT_DELAY_SETTING: {"value": delay_ms, "default": 0, "why": why}}

    def connect(self, deployment: Deployment) -> None:
        self._sink = StampSink(str(deployment.stamps_dir))
        self._queue: queue.SimpleQueue[_NullRun | None] = queue.SimpleQueue()
        pool = deployment.workload.workers
        threads = pool.slots if pool else max(1, deployment.workload.tasks)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="null-task")
        self._dispatcher = threading.Thread(target=self._dispatch, name="null-dispatch", daemon=True)
        self._by_id: dict[str, _NullRun] = {}
        self._closed = False
        self._server: ThreadingHTTPServer | None = None

    def http_target(self, deployment: Deployment) -> HttpTarget:
        if self._server is None:
            self._server = _serve(self)
        host, port = self._server.server_address[:2]
        return HttpTarget(
            base_url=f"http://{host}:{port}",
            path="/runs/{workflow_id}",
            body=request_params(deployment.workload, "{workflow_id}"),
        )

    def lookup(self, workflow_id: str) -> _NullRun | None:
        return self._by_id.get(workflow_id)

    def deploy(self, deployment: Deployment) -> None:
        self._dispatcher.start()

    def submit(self, request: WorkflowRequest) -> _NullRun:
        run = _NullRun(request, time.time_ns())
        self._by_id[request.workflow_id] = run
        self._queue.put(run)
        return run

    def wait(self, handle: _NullRun, timeout_s: float) -> str:
        if not handle.done.wait(timeout_s):
            raise TimeoutError(f"{handle.request.workflow_id} not done after {timeout_s}s")
        return handle.record.status

    def records(self, handle: _NullRun, request: WorkflowRequest) -> EngineWorkflow:
        return handle.record

    def close(self) -> None:
        if getattr(self, "_server", None) is not None:
            self._server.shutdown()
            self._server.server_close()
        if hasattr(self, "_queue"):
            self._closed = True  # runs still queued (a saturated sweep's backlog) are dropped, not run
            self._queue.put(None)
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self) -> None:
        while (run := self._queue.get()) is not None and not self._closed:
            req = run.request
            record = EngineWorkflow("completed", created_ns=run.created_ns, started_ns=time.time_ns())
            if req.shape == "chain":
                record.tasks = [self._task(req, i) for i in range(req.tasks)]
            else:
                queued = time.time_ns()
                futures = [self._pool.submit(self._task, req, i, queued) for i in range(req.tasks)]
                record.tasks = [f.result() for f in futures]
            record.finished_ns = time.time_ns()
            run.record = record
            run.done.set()

    def _task(self, req: WorkflowRequest, index: int, queued_ns: int | None = None) -> EngineTask:
        if self._delay_s:
            time.sleep(self._delay_s)  # the injected delay: a slower scheduler, as the test's gate must see
        start = time.time_ns()
        run_task(req.workflow_id, index, req.op, req.n, start, self._sink)
        return EngineTask(
            index,
            created_ns=queued_ns or start,
            queued_ns=queued_ns or start,
            started_ns=start,
            finished_ns=time.time_ns(),
        )


class _SubmitHandler(BaseHTTPRequestHandler):
    """POST /runs/<workflow id>: enqueue the run, answer 202 once it is queued."""

    protocol_version = "HTTP/1.1"  # keep-alive: the generator reuses its connections
    adapter: NullAdapter

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            p = json.loads(body)
            wf = self.path.removeprefix("/runs/")
            if wf != p["workflow_id"] or not wf:
                raise ValueError("workflow id of path and body differ")
            self.adapter.submit(WorkflowRequest(wf, p["shape"], int(p["tasks"]), p["op"], int(p["n"])))
            self._answer(202, b"{}")
        except (ValueError, KeyError, TypeError) as err:
            self._answer(400, json.dumps({"error": str(err)}).encode())

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # one line per request would be the largest cost
        pass


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a generator opening connections faster than a busy
    # harness accepts them would see refused SYNs and one-second retries, not the null platform.
    request_queue_size = 1024


def _serve(adapter: NullAdapter) -> ThreadingHTTPServer:
    handler = type("Handler", (_SubmitHandler,), {"adapter": adapter})
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="null-http", daemon=True).start()
    return server
