"""A lean HTTP/1.1 keep-alive connection for the load workers: one request bytes out, one status in.

Why not geventhttpclient's HTTPClient (what Locust's FastHttpUser uses): measured on the 2-core
machine against the null server it costs about 150 µs of CPU per request (headers objects, request
building, pool bookkeeping), a raw socket about 45 µs; the generator's goal of 10,000 submissions/s
per process leaves 100 µs for everything. Requests are therefore encoded once per submission
(`encode_request`) and responses parsed only as far as framing needs: status line, Content-Length,
chunked transfer coding, `Connection: close`.

Standard library sockets only, so it runs cooperatively under gevent's monkey patching in the
Locust workers and blocking in plain tests.
"""
from __future__ import annotations

import socket
import time

RECV_BYTES = 65536
MAX_HEAD_BYTES = 64 * 1024
# A keep-alive connection idle longer than this is replaced before use rather than reused: servers
# close idle connections (uvicorn after 5 s), and a POST that met a closed connection cannot be
# retried without risking a duplicate workflow run.
IDLE_REUSE_S = 2.0


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client understands it."""


def encode_request(method: str, host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    return RequestEncoder(method, host, headers).encode(path, body)


class RequestEncoder:
    """The fixed part of a step's requests encoded once; per submission only path, length, body."""

    def __init__(self, method: str, host: str, headers: dict[str, str]):
        self._start = f"{method} ".encode("latin-1")
        lines = [" HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        self._middle = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")

    def encode(self, path: str, body: bytes) -> bytes:
        return b"".join((self._start, path.encode("latin-1"), self._middle, str(len(body)).encode(), b"\r\n\r\n", body))


def resolve(host: str, port: int) -> tuple[int, tuple]:
    """(address family, socket address) of host:port. Resolved once per step: under gevent every
    connect to a host name would otherwise resolve it again on a thread pool."""
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, sockaddr


class Connection:
    """One keep-alive connection; `request` returns the status code or raises (OSError, ProtocolError)."""

    def __init__(self, address: tuple[int, tuple], connect_timeout_s: float, io_timeout_s: float | None = None):
        self._family, self._addr = address  # from resolve(), once per step, not once per connect
        self._connect_timeout_s = connect_timeout_s
        # None: wait as long as it takes. Under gevent every socket operation with a timeout arms
        # a timer, which costs more than the request's own parsing; the load workers bound a
        # request's wait by ending the step instead (the drain).
        self._io_timeout_s = io_timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""
        self._last_used = 0.0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf = b""

    def connect(self) -> None:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(self._addr)
            sock.settimeout(self._io_timeout_s)
        except BaseException:
            sock.close()
            raise
        self._sock, self._buf, self._last_used = sock, b"", time.monotonic()

    def request(self, data: bytes) -> int:
        if self._sock is not None and time.monotonic() - self._last_used > IDLE_REUSE_S:
            self.close()
        if self._sock is None:
            self.connect()
        try:
            self._sock.sendall(data)
            status, keep_alive = self._read_response()
        except BaseException:
            self.close()  # a half-read response leaves the connection unusable
            raise
        self._last_used = time.monotonic()
        if not keep_alive:
            self.close()
        return status

    def _recv(self) -> bytes:
        chunk = self._sock.recv(RECV_BYTES)
        if not chunk:
            raise ProtocolError("connection closed before the response ended")
        return chunk

    def _read_response(self) -> tuple[int, bool]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise ProtocolError("response headers too long")
            buf += self._recv()
        head, buf = buf[:end], buf[end + 4:]
        # Bytes searches on the lower-cased head, not a parsed dict: this runs once per submission.
        version, _, rest = head.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {head[:60]!r}")
        status = int(rest[:3])
        lower = head.lower()
        keep_alive = version != b"HTTP/1.0" and _header(lower, b"connection") != b"close"
        if 100 <= status < 200 or status in (204, 304):
            length = 0
        elif b"chunked" in (_header(lower, b"transfer-encoding") or b""):
            self._buf = self._skip_chunked(buf)
            return status, keep_alive
        elif (value := _header(lower, b"content-length")) is not None:
            length = int(value)
        else:
            self._drain_to_close(buf)
            return status, False
        while len(buf) < length:
            buf += self._recv()
        self._buf = buf[length:]
        if 100 <= status < 200:
            return self._read_response()  # an interim response; the real one follows
        return status, keep_alive

    def _skip_chunked(self, buf: bytes) -> bytes:
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                buf += self._recv()
            size = int(buf[:eol].split(b";", 1)[0], 16)
            if size == 0:
                while (end := buf.find(b"\r\n\r\n", eol)) < 0 and not buf.startswith(b"\r\n", eol + 2):
                    buf += self._recv()
                # no trailers: the chunk line's CRLF is followed by the final CRLF
                return buf[eol + 4:] if buf.startswith(b"\r\n", eol + 2) else buf[end + 4:]
            while len(buf) < eol + 2 + size + 2:
                buf += self._recv()
            buf = buf[eol + 2 + size + 2:]

    def _drain_to_close(self, buf: bytes) -> None:
        try:
            while self._sock.recv(RECV_BYTES):
                pass
        finally:
            self.close()


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case) in a lower-cased response head, stripped."""
    at = lower_head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    stop = lower_head.find(b"\r\n", start)
    return lower_head[start:stop if stop >= 0 else len(lower_head)].strip()
