"""An in-process "orchestrator": a queue and worker threads, no server.

Runs the same task body and stamps as the real workers, so the driver's own overhead on
submit -> start can be measured, and the driver can be tested without any server.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..taskbody import StampSink, run_task
from .base import Adapter, Deployment, EngineTask, EngineWorkflow, WorkflowRequest


@dataclass
class _NullRun:
    """One submitted workflow run: the handle submit() returns."""
    request: WorkflowRequest
    created_ns: int
    done: threading.Event = field(default_factory=threading.Event)
    record: EngineWorkflow | None = None


class NullAdapter(Adapter):
    name = "null"
    stack = None
    wait_poll_s = None  # wait() blocks on an event the dispatcher sets

    def connect(self, deployment: Deployment) -> None:
        self._sink = StampSink(str(deployment.stamps_dir))
        self._queue: queue.SimpleQueue[_NullRun | None] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=max(1, deployment.workload.tasks), thread_name_prefix="null-task")
        self._dispatcher = threading.Thread(target=self._dispatch, name="null-dispatch", daemon=True)

    def deploy(self, deployment: Deployment) -> None:
        self._dispatcher.start()

    def submit(self, request: WorkflowRequest) -> _NullRun:
        run = _NullRun(request, time.time_ns())
        self._queue.put(run)
        return run

    def wait(self, handle: _NullRun, timeout_s: float) -> str:
        if not handle.done.wait(timeout_s):
            raise TimeoutError(f"{handle.request.workflow_id} not done after {timeout_s}s")
        return handle.record.status

    def records(self, handle: _NullRun, request: WorkflowRequest) -> EngineWorkflow:
        return handle.record

    def close(self) -> None:
        if hasattr(self, "_queue"):
            self._queue.put(None)
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self) -> None:
        while (run := self._queue.get()) is not None:
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
        start = time.time_ns()
        run_task(req.workflow_id, index, req.op, req.n, start, self._sink)
        return EngineTask(index, created_ns=queued_ns or start, queued_ns=queued_ns or start, started_ns=start,
                          finished_ns=time.time_ns())
