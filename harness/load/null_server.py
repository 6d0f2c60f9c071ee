"""The null platform's target: an HTTP/1.1 endpoint that acknowledges every request, as fast as
plain Python allows (an asyncio Protocol, keep-alive, pipelining-safe, no framework), so the load
generator's own ceiling can be measured against it.

`--service-ms X` makes it a slow target instead: requests from all connections queue FIFO for one
server that takes X ms each (capacity 1000/X per second), as a platform that accepts connections
but answers slowly would.

`python -m harness.load.null_server [--port 0] [--service-ms X] [--realtime]` binds 127.0.0.1 and
prints `PORT <n> <scheduling>` on stdout once listening. `NullServer` runs it as a child process from the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.model.errors import BenchError

RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEADER_BYTES = 64 * 1024
READY_TIMEOUT_S = 15
# Below the load workers' (10): when both want the CPU, the generator keeps its schedule.
NULL_SERVER_PRIORITY = 5


class _Ack(asyncio.Protocol):
    """Parses only what framing needs (end of headers, Content-Length) and answers each request."""

    def __init__(self, served: list[int], slow: "_SlowServer | None"):
        self._buf = b""
        self._served = served
        self._slow = slow
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADER_BYTES:
                    return self._reject()
                break
            length = _content_length(buf[:end])
            if length is None:
                return self._reject()
            size = end + 4 + length
            if len(buf) < size:
                break
            buf = buf[size:]
            self._served[0] += 1
            if self._slow is None:
                self._transport.write(RESPONSE)
            else:
                self._slow.enqueue(self._transport)
        self._buf = buf

    def _reject(self) -> None:
        self._transport.write(BAD_REQUEST)
        self._transport.close()


def _content_length(head: bytes) -> int | None:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return None if b"\r\ntransfer-encoding:" in lower else 0  # chunked bodies are not supported
    stop = lower.find(b"\r\n", at + 17)
    value = lower[at + 17 : stop if stop >= 0 else len(lower)]
    try:
        return int(value.strip())
    except ValueError:
        return None


class _SlowServer:
    """One server, FIFO across connections, service_s per request."""

    def __init__(self, service_s: float):
        self._service_s = service_s
        self._queue: asyncio.Queue = asyncio.Queue()

    def enqueue(self, transport: asyncio.Transport) -> None:
        self._queue.put_nowait(transport)

    async def serve(self) -> None:
        while True:
            transport = await self._queue.get()
            await asyncio.sleep(self._service_s)
            if not transport.is_closing():
                transport.write(RESPONSE)


def realtime_priority(priority: int) -> str:
    """SCHED_FIFO where allowed, for measuring the generator's ceiling: at normal priority on the
    shared 2-core machine the server waited for time slices behind other processes and its answers
    took 12 ms (p50) at 6,000/s, which charged the server's delays to the generator."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        return f"normal ({type(exc).__name__})"
    return f"SCHED_FIFO {priority}"


async def serve(port: int, service_ms: float, scheduling: str = "normal") -> None:
    loop = asyncio.get_running_loop()
    served = [0]
    slow = _SlowServer(service_ms / 1000) if service_ms > 0 else None
    server = await loop.create_server(lambda: _Ack(served, slow), "127.0.0.1", port, backlog=4096, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]} {scheduling}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = asyncio.create_task(slow.serve()) if slow else None
    await stop.wait()
    if worker:
        worker.cancel()
    server.close()
    print(f"SERVED {served[0]}", flush=True)


class NullServer:
    """The null server as a child process in its own process group; a context manager that always
    stops it. `base_url` once started."""

    def __init__(self, log_dir: Path, service_ms: float = 0, realtime: bool = False):
        self._log = Path(log_dir) / f"null-server-{os.getpid()}-{time.monotonic_ns()}.log"
        self._service_ms = service_ms
        self._realtime = realtime
        self.scheduling = "normal"
        self._proc: subprocess.Popen | None = None
        self.port = 0
        self.served: int | None = None  # requests answered, known once stopped

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> "NullServer":
        self._log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "harness.load.null_server",
            "--service-ms",
            str(self._service_ms),
            *(["--realtime"] if self._realtime else []),
        ]
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._log.open("wb"),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_port(self) -> int:
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = self._proc.stdout.readline()  # the server prints its port first, or exits
        if line.startswith("PORT ") and time.monotonic() < deadline:
            self.scheduling = line.split(" ", 2)[2].strip() if line.count(" ") >= 2 else "normal"
            return int(line.split()[1])
        tail = self._log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"null server did not start: {tail[0]}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=5)
            last = self._proc.stdout.read().split()
            self.served = int(last[-1]) if len(last) >= 2 and last[-2] == "SERVED" else None
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        except ProcessLookupError:
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="harness.load.null_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--service-ms", type=float, default=0.0)
    parser.add_argument("--realtime", action="store_true", help="SCHED_FIFO 5 where allowed")
    args = parser.parse_args(argv)
    scheduling = realtime_priority(NULL_SERVER_PRIORITY) if args.realtime else "normal"
    asyncio.run(serve(args.port, args.service_ms, scheduling))


if __name__ == "__main__":
    main()
