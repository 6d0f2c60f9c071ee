"""One Locust worker's share of a load step, sent open-loop on its intended times (gevent).

Imported only inside Locust worker processes (`locustfile.py`), never by the driver.

- A pacer greenlet walks the share in order and wakes at each intended time on a Linux timerfd
  (CLOCK_REALTIME, absolute): gevent's own timers ride on epoll's millisecond timeout and would
  add up to 1 ms of lag by themselves. A pacer that wakes late hands the submission on at once;
  the lag is recorded, never hidden.
- It hands each submission to an idle sender greenlet (one keep-alive connection each), starting a
  new sender when none is idle, so a request in flight never delays the next one; beyond
  `max_in_flight` senders a submission waits in a backlog and is sent late.
- Every submission keeps intended, send and acknowledgement times (time.time_ns()) and the status;
  where the target has a retry policy (the platform's own client retries "busy" answers), the
  sender retries as that client would and counts the retries; send stays the first send.
"""
from __future__ import annotations

import ctypes
import math
import os
import random
import time
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import Event
from gevent.hub import Waiter, get_hub

from .cpu_idle import IdlePoll
from .http1 import Connection, RequestEncoder, resolve
from .schedule import HttpTarget, RequestTemplate, intended_offset_ns, worker_share

CLOCK_REALTIME, TFD_TIMER_ABSTIME = 0, 1
TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
# A connection attempt gets this long; an answer gets as long as the step and its drain last.
CONNECT_TIMEOUT_S = 10.0
# The pacer sleeps at least this long between wake-ups: above 1/COALESCE_NS submissions per second
# it sends whatever fell due in that time together, each up to this much late (recorded as lag).
# Each wake-up of the process costs about 50 µs of CPU on the 2-core VM, more than a submission.
COALESCE_NS = 250_000
# Low in the real-time range (1-99): above every normal process, below the kernel's IRQ threads (50).
REALTIME_PRIORITY = 10
# Connections opened before t0: enough for this long of submissions in flight at the step's rate.
PREWARM_S, PREWARM_MIN = 0.005, 2


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


class TimerfdClock:
    """Sleeps until an absolute time.time_ns() with the kernel's high-resolution timers."""
    name = "timerfd"

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self._fd = libc.timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _ITimerSpec()
        self._hub = get_hub()
        self._watcher = self._hub.loop.io(self._fd, 1)

    def wait_until(self, ns: int) -> None:
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        if self._settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._hub.wait(self._watcher)
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        self._watcher.close()
        os.close(self._fd)


class SleepClock:
    """Where there is no timerfd: gevent.sleep, with its millisecond resolution (lag shows it)."""
    name = "gevent.sleep"

    def wait_until(self, ns: int) -> None:
        gevent.sleep(max(0.0, (ns - time.time_ns()) / 1e9))

    def close(self) -> None:
        pass


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


def make_clock():
    try:
        return TimerfdClock()
    except (OSError, AttributeError):
        return SleepClock()


@dataclass(frozen=True)
class ShareConfig:
    target: HttpTarget
    id_prefix: str
    rate_per_s: float
    total: int              # submissions in the whole step, all workers, warmup included
    worker: int
    workers: int
    t0_ns: int
    max_in_flight: int
    drain_s: float


class ShareRun:
    def __init__(self, cfg: ShareConfig):
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
        self._address = resolve(host, int(port or 80))
        self._idle: list[Waiter] = []
        self._backlog: deque[int] = deque()
        self._senders: list[gevent.Greenlet] = []
        self._outstanding = 0
        self._dispatched_all = False
        self._drained = Event()
        self.clock_name = ""
        self.scheduling = ""
        self.cpu_idle = ""

    def run(self) -> None:
        self.scheduling = realtime_priority()
        clock = make_clock()
        self.clock_name = clock.name
        try:
            with IdlePoll() as idle:
                self.cpu_idle = idle.state
                self._send_all(clock)
        finally:
            clock.close()
            gevent.killall(self._senders, timeout=5)

    def _send_all(self, clock) -> None:
        loop = get_hub().loop
        self._prewarm()
        woke = 0
        for k, due in enumerate(self.intended):
            if due > time.time_ns():
                clock.wait_until(max(due, woke + COALESCE_NS))
                woke = time.time_ns()
            self._dispatch(k, loop)
        self._dispatched_all = True
        self._drain(loop)

    def _prewarm(self) -> None:
        """Open the connections the first moments will need before t0, so that connecting is
        not charged to the first submissions' lag."""
        per_worker = self.cfg.rate_per_s / self.cfg.workers
        count = min(self.cfg.max_in_flight, max(PREWARM_MIN, math.ceil(per_worker * PREWARM_S)))
        self._senders += [gevent.spawn(self._sender, None) for _ in range(count)]
        gevent.sleep(0)  # let them connect; t0 is START_DELAY_S away

    def _dispatch(self, k: int, loop) -> None:
        self._outstanding += 1
        if self._idle:
            loop.run_callback(self._idle.pop().switch, k)
        elif len(self._senders) < self.cfg.max_in_flight:
            self._senders.append(gevent.spawn(self._sender, k))
        else:
            self._backlog.append(k)

    def _drain(self, loop) -> None:
        if self._outstanding:
            last = self.intended[-1] if self.intended else time.time_ns()
            self._drained.wait(timeout=max(0.0, (last - time.time_ns()) / 1e9 + self.cfg.drain_s))
        for waiter in self._idle:
            loop.run_callback(waiter.switch, None)
        self._idle.clear()

    def _idle_wait(self) -> int | None:
        waiter = Waiter()
        self._idle.append(waiter)
        return waiter.get()

    def _sender(self, k: int | None) -> None:
        """k: the first submission to send; None for a pre-warmed sender, which connects first."""
        conn = Connection(self._address, connect_timeout_s=CONNECT_TIMEOUT_S)
        try:
            if k is None:
                try:
                    conn.connect()
                except OSError:
                    pass  # the first request connects again, and records the failure if it persists
                k = self._idle_wait()
            while k is not None:
                self._submit(conn, k)
                self._outstanding -= 1
                if self._dispatched_all and not self._outstanding:
                    self._drained.set()
                if self._backlog:
                    k = self._backlog.popleft()
                    continue
                k = self._idle_wait()
        finally:
            conn.close()

    def _submit(self, conn: Connection, k: int) -> None:
        i, t = self.seqs[k], self._template
        data = self._encoder.encode(t.path(i), t.body(i))
        retry, retries = self.cfg.target.retry, 0
        self.send[k] = time.time_ns()
        while True:
            try:
                status = conn.request(data)
            except Exception as exc:  # noqa: BLE001 - every failure is a recorded outcome of this submission
                if retry is None or not retry.transport_errors or retries >= retry.max_retries:
                    self.errors[k] = f"{type(exc).__name__}: {exc}"[:300]
                    self.retries[k] = retries
                    return
                retries += 1   # the connection is closed: the next request opens a new one
                gevent.sleep(retry.delay_s(retries, random.random()))
                continue
            if retry is None or status not in retry.statuses or retries >= retry.max_retries:
                break
            retries += 1
            gevent.sleep(retry.delay_s(retries, random.random()))
        self.ack[k] = time.time_ns()
        self.status[k], self.retries[k] = status, retries

    def payload(self, cpu_s: float) -> dict[str, Any]:
        """The share's records for the master, as compact arrays (Locust's messages are msgpack)."""
        return {"worker": self.cfg.worker, "workers": self.cfg.workers, "intended": self.intended.tobytes(),
                "send": self.send.tobytes(), "ack": self.ack.tobytes(), "status": self.status.tobytes(),
                "retries": self.retries.tobytes(), "errors": {str(k): v for k, v in self.errors.items()},
                "senders": len(self._senders),
                "cpu_s": cpu_s, "clock": self.clock_name, "scheduling": self.scheduling,
                "cpu_idle": self.cpu_idle}
