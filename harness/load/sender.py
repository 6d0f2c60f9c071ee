"""A Locust worker's sending loop: one epoll, non-blocking sockets, no greenlet per request.

Why not gevent's cooperative sockets (what the workers used until 2026-12-04): every request through
them cost two greenlet switches and an I/O watcher started and stopped per wait, 111-155 µs of CPU
per submission on the 2-core Xeon VM, which capped one worker at 3,500 submissions/s. Here a
submission costs a send() and a recv() on a kept-alive connection, and the answers that arrive
together are collected by one epoll_wait.

The loop blocks gevent's hub while it runs, so it hands the hub a turn (`yield_to_hub`) at least
every HUB_TURN_NS: Locust's heartbeats to the master and its signal handling run there.

Runs in the Locust worker processes (gevent-patched: the original epoll and socket classes are
taken from gevent's monkey module) and unpatched in tests.
"""

from __future__ import annotations

import errno
import heapq
import os
import random
import select
import socket
import sys
import time
from collections import deque
from typing import Callable

from harness.load.http1 import RECV_BYTES, ProtocolError, parse_response

# A connection attempt gets this long; an answer gets as long as the step and its drain last.
CONNECT_TIMEOUT_NS = 10_000_000_000
# A keep-alive connection idle longer than this is closed rather than reused: servers close idle
# connections (uvicorn after 5 s), and a POST that met a closed connection cannot be retried
# without risking a duplicate workflow run.
IDLE_REUSE_NS = 2_000_000_000
# The most the loop keeps gevent's hub waiting (Locust's heartbeat runs every second there).
HUB_TURN_NS = 20_000_000
IN, OUT = select.EPOLLIN, select.EPOLLOUT


def _original(module: str, name: str):
    """The standard library's class even where gevent has patched the module."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched(module):
        return monkey.get_original(module, name)
    return getattr(__import__(module), name)


class _Conn:
    __slots__ = ("sock", "fd", "k", "buf", "out", "connected", "watching_out", "to_close", "last_used")

    def __init__(self, sock: socket.socket):
        self.sock, self.fd = sock, sock.fileno()
        self.k: int | None = None  # the submission in flight on it
        self.buf = b""
        self.out = b""  # request bytes not yet written
        self.connected = False
        self.watching_out = True  # registered for writability until connected
        self.to_close: int | None = None  # the status of an answer whose body ends at the close
        self.last_used = time.monotonic_ns()


class SendLoop:
    """Sends submission k of `run` (a pacer.ShareRun) at run.intended[k] (time.time_ns()) as
    run.encode(k) to run.address, recording into run's send, ack, status, retries and errors;
    `run()` returns once every submission is answered or `drain_s` after the last intended time.
    `clock` wakes the loop on time (pacer.Timerfd), or is None (epoll's millisecond timeout)."""

    def __init__(self, run, clock, yield_to_hub: Callable[[], None] | None = None, coalesce_ns: int = 0):
        self.r, (self._family, self._addr) = run, run.address
        self._encode, self._clock, self._yield = run.encode, clock, yield_to_hub
        self._coalesce = coalesce_ns
        self._ep = _original("select", "epoll")()
        self._socket_cls = _original("socket", "socket")
        self._conns: dict[int, _Conn] = {}
        self._idle: list[_Conn] = []
        self._backlog: deque[int] = deque()
        self._timers: list[tuple[int, int, Callable, object]] = []
        self._timer_seq = 0
        self._outstanding = 0
        self.opened = 0  # connections opened over the share
        self.peak = 0  # most connections open at once

    # --- the loop ---------------------------------------------------------------------------

    def run(self, prewarm: int, drain_s: float) -> None:
        try:
            for _ in range(min(prewarm, self.r.cfg.max_in_flight)):
                self._open(None)
            self._loop(round(drain_s * 1e9))
        finally:
            for conn in list(self._conns.values()):
                self._close(conn)
            self._ep.close()

    def _loop(self, drain_ns: int) -> None:
        intended, n, nxt = self.r.intended, len(self.r.intended), 0
        drain_until = (intended[-1] if n else time.time_ns()) + drain_ns
        clock_fd = self._clock.fd if self._clock else -1
        if clock_fd >= 0:
            self._ep.register(clock_fd, IN)
        hub_due = armed = woke = 0
        while True:
            now = time.time_ns()
            while nxt < n and intended[nxt] <= now:
                self._dispatch(nxt)
                nxt += 1
            if self._timers and self._timers[0][0] <= now:
                self._run_timers(now)
            if nxt == n and (not self._outstanding or now >= drain_until):
                return
            if self._yield and now >= hub_due:
                self._yield()
                hub_due = time.time_ns() + HUB_TURN_NS
                continue
            wake = min(
                max(intended[nxt], woke + self._coalesce) if nxt < n else drain_until,
                self._timers[0][0] if self._timers else drain_until,
                hub_due if self._yield else drain_until,
                drain_until,
            )
            if clock_fd >= 0 and wake != armed:
                self._clock.arm(wake)
                armed = wake
            timeout = -1 if clock_fd >= 0 else max(0.0, (wake - now) / 1e9)
            for fd, events in self._ep.poll(timeout):
                if fd == clock_fd:
                    self._clock.consume()
                    woke, armed = time.time_ns(), 0
                elif (conn := self._conns.get(fd)) is not None:
                    self._on_events(conn, events)

    def _after(self, delay_ns: int, fn: Callable, arg) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (time.time_ns() + delay_ns, self._timer_seq, fn, arg))

    def _run_timers(self, now: int) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, fn, arg = heapq.heappop(self._timers)
            fn(arg)

    # --- submissions --------------------------------------------------------------------------

    def _dispatch(self, k: int) -> None:
        self._outstanding += 1
        self._send(k)

    def _send(self, k: int) -> None:
        """On an idle connection, a new one, or (all max_in_flight busy) after the backlog."""
        conn = self._take_idle()
        if conn is None:
            if len(self._conns) >= self.r.cfg.max_in_flight:
                self._backlog.append(k)
                return
            conn = self._open(k)
            if conn is None:
                return
        self._start(conn, k)

    def _take_idle(self) -> _Conn | None:
        stale_before = time.monotonic_ns() - IDLE_REUSE_NS
        while self._idle:
            conn = self._idle.pop()
            if conn.sock is None:
                continue  # closed while idle (the server closed it, or a reset)
            if conn.last_used >= stale_before:
                return conn
            self._close(conn)
        return None

    def _start(self, conn: _Conn, k: int) -> None:
        data = self._encode(k)
        conn.k = k
        if not self.r.send[k]:
            self.r.send[k] = time.time_ns()  # the first send; a retry keeps it
        conn.out = data
        if conn.connected:
            self._flush(conn)

    def _answered(self, conn: _Conn, status: int) -> None:
        k, r, retry = conn.k, self.r, self.r.cfg.target.retry
        conn.k, conn.last_used = None, time.monotonic_ns()
        if retry is not None and status in retry.statuses and r.retries[k] < retry.max_retries:
            self._retry_later(k)
        else:
            r.ack[k], r.status[k] = time.time_ns(), status
            self._done()
        if conn.sock is not None:
            self._next_for(conn)
        else:
            self._backlog_on_new()

    def _failed(self, conn: _Conn, exc: BaseException) -> None:
        k, retry = conn.k, self.r.cfg.target.retry
        conn.k = None
        self._close(conn)
        if k is None:
            return  # a pre-warmed or idle connection: the next request opens another
        if retry is not None and retry.transport_errors and self.r.retries[k] < retry.max_retries:
            self._retry_later(k)
        else:
            self.r.errors[k] = f"{type(exc).__name__}: {exc}"[:300]
            self._done()
        self._backlog_on_new()

    def _backlog_on_new(self) -> None:
        """A connection closed: the oldest waiting submission takes a new one in its place."""
        if self._backlog and len(self._conns) < self.r.cfg.max_in_flight:
            self._send(self._backlog.popleft())

    def _retry_later(self, k: int) -> None:
        retry = self.r.cfg.target.retry
        self.r.retries[k] += 1
        self._after(round(retry.delay_s(self.r.retries[k], random.random()) * 1e9), self._send, k)

    def _done(self) -> None:
        self._outstanding -= 1

    def _next_for(self, conn: _Conn) -> None:
        if self._backlog:
            self._start(conn, self._backlog.popleft())
        else:
            self._idle.append(conn)

    # --- connections --------------------------------------------------------------------------

    def _open(self, k: int | None) -> _Conn | None:
        sock = self._socket_cls(self._family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock)
        conn.k = k
        self._conns[conn.fd] = conn
        self.opened += 1
        self.peak = max(self.peak, len(self._conns))
        self._ep.register(conn.fd, IN | OUT)
        if k is not None and not self.r.send[k]:
            self.r.send[k] = time.time_ns()  # connecting is part of sending, even where it fails
        rc = sock.connect_ex(self._addr)
        if rc not in (0, errno.EINPROGRESS):
            self._failed(conn, OSError(rc, os.strerror(rc)))
            return None
        self._after(CONNECT_TIMEOUT_NS, self._connect_deadline, conn)
        return conn

    def _connect_deadline(self, conn: _Conn) -> None:
        if conn.sock is not None and not conn.connected:
            self._failed(conn, TimeoutError("connect timed out"))

    def _close(self, conn: _Conn) -> None:
        if conn.sock is None:
            return
        self._conns.pop(conn.fd, None)
        try:
            self._ep.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        conn.sock.close()
        conn.sock = None

    def _on_events(self, conn: _Conn, events: int) -> None:
        if not conn.connected:
            if err := conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return self._failed(conn, OSError(err, os.strerror(err)))
            conn.connected = True
            if conn.k is None:
                self._watch_out(conn, False)
                return self._next_for(conn)
        if conn.out:  # written while connecting, or the rest of a partial write
            self._flush(conn)
        if events & ~OUT and conn.sock is not None:
            self._read(conn)

    def _watch_out(self, conn: _Conn, on: bool) -> None:
        if conn.watching_out != on:  # epoll_ctl only when the interest changes, not per request
            self._ep.modify(conn.fd, IN | OUT if on else IN)
            conn.watching_out = on

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            return self._failed(conn, exc)
        conn.out = conn.out[sent:]
        self._watch_out(conn, bool(conn.out))

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = conn.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return None
        except OSError as exc:
            return self._failed(conn, exc)
        if not chunk:
            return self._closed_by_server(conn)
        if conn.k is None:
            return self._close(conn)  # bytes nobody asked for: the connection is unusable
        if conn.to_close is not None:
            return None  # a body that runs to the close: not needed
        conn.buf += chunk
        try:
            answer = parse_response(conn.buf)
        except ProtocolError as exc:
            return self._failed(conn, exc)
        if answer is None:
            return None
        if answer.end is None:
            conn.to_close, conn.buf = answer.status, b""
            return None
        conn.buf = conn.buf[answer.end :]
        if not answer.keep_alive:
            self._close(conn)
        self._answered(conn, answer.status)

    def _closed_by_server(self, conn: _Conn) -> None:
        if conn.to_close is not None:  # the end of a body that ran to the close
            self._close(conn)
            return self._answered(conn, conn.to_close)
        if conn.k is None:
            return self._close(conn)  # an idle connection the server closed
        self._failed(conn, ProtocolError("connection closed before the response ended"))
