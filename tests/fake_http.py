"""A local HTTP server for the adapters whose engine cannot run on our machines (Windmill, Kestra):
the adapter's real client library talks HTTP to it, and it answers in the engine's documented shapes."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ApiHandler(BaseHTTPRequestHandler):
    """Subclasses implement route(); every request is recorded on server.seen as
    (method, raw path, headers, body bytes)."""

    def route(self, body: bytes) -> tuple[int, object]:
        raise NotImplementedError

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        code, doc = self.route(body)
        text = doc if isinstance(doc, str) else json.dumps(doc)
        payload = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(doc, str) else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(handler: type[ApiHandler], **state):
    """Serve `handler` on a free loopback port; `state` becomes attributes of the server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []
    for key, value in state.items():
        setattr(server, key, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
