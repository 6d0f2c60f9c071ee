"""One Locust worker's share of a load step, sent open-loop on its intended times.

Imported only inside Locust worker processes (`locustfile.py`), never by the driver.

- The share is sent by `sender.SendLoop`: one epoll over non-blocking keep-alive connections,
  woken at each intended time by a Linux timerfd (CLOCK_REALTIME, absolute; epoll's own timeout
  has millisecond resolution and would add up to 1 ms of lag by itself). A loop that wakes late
  sends at once; the lag is recorded, never hidden.
- A submission goes out on an idle connection, or a new one, so a request in flight never delays
  the next; beyond `max_in_flight` connections it waits in a backlog and is sent late.
- Every submission keeps intended, send and acknowledgement times (time.time_ns()) and the status;
  where the target has a retry policy (the platform's own client retries "busy" answers), the
  loop retries as that client would and counts the retries; send stays the first send.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from harness.load.cpu_idle import IdlePoll
from harness.load.http1 import RequestEncoder, resolve
from harness.load.schedule import HttpTarget, RequestTemplate, intended_offset_ns, worker_share
from harness.load.sender import SendLoop

CLOCK_REALTIME, TFD_TIMER_ABSTIME = 0, 1
TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
# The loop sleeps at least this long between timer wake-ups: above 1/COALESCE_NS submissions per
# second it sends whatever fell due in that time together, each up to this much late (recorded as
# lag). Each wake-up of the process costs about 50 µs of CPU on the 2-core VM, more than a submission.
COALESCE_NS = 250_000
# Low in the real-time range (1-99): above every normal process, below the kernel's IRQ threads (50).
REALTIME_PRIORITY = 10
# Connections opened before t0: enough for this long of submissions in flight at the step's rate.
PREWARM_S, PREWARM_MIN = 0.005, 2


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


class Timerfd:
    """A file descriptor that becomes readable at an absolute time.time_ns() (the kernel's
    high-resolution timers), for the send loop's epoll."""

    name = "timerfd"

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self.fd = libc.timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _ITimerSpec()

    def arm(self, ns: int) -> None:
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        if self._settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def consume(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


def make_clock() -> Timerfd | None:
    """A timerfd, or None where there is none (the loop then uses epoll's millisecond timeout)."""
    try:
        return Timerfd()
    except (OSError, AttributeError):
        return None


def realtime_priority() -> str:
    """Run this worker's thread under SCHED_FIFO where allowed (root or CAP_SYS_NICE), and say which.

    Why: on the shared 2-core machine a worker at normal priority waits up to a scheduler time
    slice (about 3 ms) whenever another process holds its core, so its send lag p99 measured
    2.4 ms for bare timer wake-ups at 200/s; under SCHED_FIFO 10 it measured 0.06-0.9 ms. The
    worker sleeps between submissions, so it takes no more CPU than before, only earlier; the
    kernel's real-time throttling (95% per second by default) still bounds a saturated worker.
    BENCH_LOAD_REALTIME=0 keeps normal scheduling."""
    if os.environ.get("BENCH_LOAD_REALTIME", "1") == "0":
        return "normal (BENCH_LOAD_REALTIME=0)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (OSError, AttributeError) as exc:
        return f"normal ({type(exc).__name__}: {exc})"
    return f"SCHED_FIFO {REALTIME_PRIORITY}"


@contextmanager
def _no_gc_pauses():
    """The cyclic garbage collector off while the share is sent, as timeit runs its loop: a full
    collection walks every object Locust and gevent created (milliseconds, in one piece, charged to
    whichever submission is due). The loop frees what it allocates by reference counting; the
    collector runs again afterwards."""
    gc.collect()
    gc.freeze()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class ShareConfig:
    target: HttpTarget
    id_prefix: str
    rate_per_s: float
    total: int  # submissions in the whole step, all workers, warmup included
    worker: int
    workers: int
    t0_ns: int
    max_in_flight: int
    drain_s: float


class ShareRun:
    def __init__(self, cfg: ShareConfig, yield_to_hub: Callable[[], None] | None = None):
        self.cfg = cfg
        self.seqs = worker_share(cfg.total, cfg.worker, cfg.workers)
        n = len(self.seqs)
        self.intended = array("q", (cfg.t0_ns + intended_offset_ns(i, cfg.rate_per_s) for i in self.seqs))
        self.send, self.ack = array("q", bytes(8 * n)), array("q", bytes(8 * n))
        self.status = array("h", bytes(2 * n))
        self.retries = array("h", bytes(2 * n))
        self.errors: dict[int, str] = {}
        self._template = RequestTemplate(cfg.target, cfg.id_prefix)
        host_port = cfg.target.base_url.removeprefix("http://")
        self._encoder = RequestEncoder(self._template.method, host_port, self._template.headers)
        host, _, port = host_port.partition(":")
        self.address = resolve(host, int(port or 80))
        self._yield = yield_to_hub
        self.connections = 0
        self.clock_name = ""
        self.scheduling = ""
        self.cpu_idle = ""

    def encode(self, k: int) -> bytes:
        i, t = self.seqs[k], self._template
        return self._encoder.encode(t.path(i), t.body(i))

    def run(self) -> None:
        self.scheduling = realtime_priority()
        clock = make_clock()
        self.clock_name = clock.name if clock else "epoll timeout (ms)"
        loop = SendLoop(self, clock, self._yield, COALESCE_NS)
        try:
            with IdlePoll() as idle, _no_gc_pauses():
                self.cpu_idle = idle.state
                loop.run(self._prewarm_count(), self.cfg.drain_s)
        finally:
            self.connections = loop.peak
            if clock:
                clock.close()

    def _prewarm_count(self) -> int:
        """Connections opened before t0, so that connecting is not charged to the first
        submissions' lag (t0 is START_DELAY_S away)."""
        per_worker = self.cfg.rate_per_s / self.cfg.workers
        return min(self.cfg.max_in_flight, max(PREWARM_MIN, math.ceil(per_worker * PREWARM_S)))

    def payload(self, cpu_s: float) -> dict[str, Any]:
        """The share's records for the master, as compact arrays (Locust's messages are msgpack)."""
        return {
            "worker": self.cfg.worker,
            "workers": self.cfg.workers,
            "intended": self.intended.tobytes(),
            "send": self.send.tobytes(),
            "ack": self.ack.tobytes(),
            "status": self.status.tobytes(),
            "retries": self.retries.tobytes(),
            "errors": {str(k): v for k, v in self.errors.items()},
            "senders": self.connections,
            "cpu_s": cpu_s,
            "clock": self.clock_name,
            "scheduling": self.scheduling,
            "cpu_idle": self.cpu_idle,
        }
