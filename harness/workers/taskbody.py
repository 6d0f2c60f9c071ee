"""The body every platform's task runs, and the stamps it leaves.

Standard library only: workers import this from each platform's own environment.
The first statement of a task takes the start stamp, so "submit -> start" includes
everything the orchestrator and its SDK do before user code runs.
"""

from __future__ import annotations

import json
import os
import threading
import time

STAMPS_DIR_ENV = "BENCH_STAMPS_DIR"
# The harness worker service a body ran under ("worker", "worker-2", ...), inherited by any process
# the worker starts for a task; None where the platform's own processes run the bodies.
WORKER_NAME_ENV = "BENCH_WORKER_NAME"


def fib(n: int) -> int:
    """Naive recursive fibonacci: the CPU-bound task of the published cross-engine studies."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def compute(op: str, n: int) -> int:
    if op == "noop":
        return 0
    if op == "fib":
        return fib(n)
    raise ValueError(f"unknown task op {op!r}")


class StampSink:
    """Appends one JSON line per finished task to stamps-<pid>.jsonl in the run's stamp folder."""

    def __init__(self, directory: str | None = None, tag: str = ""):
        directory = directory or os.environ.get(STAMPS_DIR_ENV)
        if not directory:
            raise RuntimeError(f"{STAMPS_DIR_ENV} is not set; the worker does not know where to stamp")
        self._dir = directory
        self._lock = threading.Lock()
        self._file = None
        self._pid = None
        self._tag = tag  # tells apart same-numbered pids of different containers sharing the folder

    def write(self, workflow_id: str, index: int, start_ns: int, end_ns: int) -> None:
        line = (
            json.dumps(
                {
                    "workflow_id": workflow_id,
                    "index": index,
                    "body_start_ns": start_ns,
                    "body_end_ns": end_ns,
                    "pid": os.getpid(),
                    "worker": os.environ.get(WORKER_NAME_ENV),
                }
            )
            + "\n"
        )
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share the parent's file offset
                self._file = open(os.path.join(self._dir, f"stamps-{self._tag}{os.getpid()}.jsonl"), "a", buffering=1)
                self._pid = os.getpid()
            self._file.write(line)


_default_sink: StampSink | None = None


def run_task(workflow_id: str, index: int, op: str, n: int, start_ns: int, sink: StampSink | None = None) -> int:
    """Run the task's work and record its stamps. `start_ns` is taken by the caller's first line."""
    global _default_sink
    value = compute(op, n)
    end_ns = time.time_ns()
    if sink is None:
        _default_sink = _default_sink or StampSink()
        sink = _default_sink
    sink.write(workflow_id, index, start_ns, end_ns)
    return value
