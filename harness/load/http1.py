"""HTTP/1.1 for the load workers, only as far as a submission needs: a request encoded once per
submission, an answer framed (status line, Content-Length, chunked transfer coding, `Connection:
close`) and nothing else parsed. The connections themselves are `sender.SendLoop`'s.

Why not geventhttpclient's HTTPClient (what Locust's FastHttpUser uses): measured on the 2-core
machine against the null server it costs about 150 µs of CPU per request (headers objects, request
building, pool bookkeeping), a raw socket about 45 µs, and the generator's goal of 10,000
submissions/s per process leaves 100 µs for everything.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

RECV_BYTES = 65536
MAX_HEAD_BYTES = 64 * 1024


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


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    keep_alive: bool
    end: int | None  # where the response ends in the buffer; None: its body runs to the close


def parse_response(buf: bytes, start: int = 0) -> Response | None:
    """The first complete response in buf[start:], or None while more bytes are needed; interim
    (1xx) responses are skipped. Raises ProtocolError for anything but HTTP/1.x."""
    end = buf.find(b"\r\n\r\n", start)
    if end < 0:
        if len(buf) - start > MAX_HEAD_BYTES:
            raise ProtocolError("response headers too long")
        return None
    head = buf[start:end]
    # Bytes searches on the lower-cased head, not a parsed dict: this runs once per submission.
    version, _, rest = head.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {head[:60]!r}")
    status, body = int(rest[:3]), end + 4
    if 100 <= status < 200:
        return parse_response(buf, body)  # an interim response; the real one follows
    lower = head.lower()
    keep_alive = version != b"HTTP/1.0" and _header(lower, b"connection") != b"close"
    if status in (204, 304):
        return Response(status, keep_alive, body)
    if b"chunked" in (_header(lower, b"transfer-encoding") or b""):
        stop = _chunked_end(buf, body)
        return None if stop is None else Response(status, keep_alive, stop)
    if (value := _header(lower, b"content-length")) is None:
        return Response(status, False, None)
    if not value.isdigit():
        raise ProtocolError(f"bad Content-Length {value[:20]!r}")
    stop = body + int(value)
    return Response(status, keep_alive, stop) if len(buf) >= stop else None


def _chunked_end(buf: bytes, pos: int) -> int | None:
    """Where a chunked body starting at buf[pos] ends (after its trailers), or None if not yet."""
    while True:
        if (eol := buf.find(b"\r\n", pos)) < 0:
            return None
        size_text = buf[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            if buf.startswith(b"\r\n", eol + 2):
                return eol + 4  # no trailers
            end = buf.find(b"\r\n\r\n", eol)
            return None if end < 0 else end + 4
        pos = eol + 2 + size + 2
        if len(buf) < pos:
            return None


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case) in a lower-cased response head, stripped."""
    at = lower_head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    stop = lower_head.find(b"\r\n", start)
    return lower_head[start : stop if stop >= 0 else len(lower_head)].strip()
