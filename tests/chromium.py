"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol: open a page,
collect every console error, uncaught exception and failed or external request, read what the page
rendered (tables, images) and take a screenshot. The browser runs with a fresh profile that is
removed afterwards, and its whole process group is stopped."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,3000",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
]

# What the page shows, read in the page itself once it has loaded.
RENDERED = """JSON.stringify({
  tables: [...document.querySelectorAll('table')].map(t => ({
    id: (t.closest('div') && t.closest('div').previousElementSibling || {}).id || '',
    rows: t.rows.length, columns: t.rows.length ? t.rows[0].cells.length : 0,
    width: t.getBoundingClientRect().width, height: t.getBoundingClientRect().height})),
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
    height: i.naturalHeight, shown: i.getBoundingClientRect().width})),
  headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
  height: document.documentElement.scrollHeight})"""


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    requests: list[str] = field(default_factory=list)  # every URL the page asked for beyond itself
    tables: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    height: int = 0


class Chromium:
    def __init__(self, timeout_s: float = 60):
        self.timeout_s = timeout_s
        self.profile = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self.next_id = 0
        self.events: list[dict] = []

    def __enter__(self) -> "Chromium":
        binary = executable()
        assert binary, "chromium is not installed (apt-get install chromium)"
        self.log = open(self.profile.parent / f"{self.profile.name}.log", "wb")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        Path(self.log.name).unlink(missing_ok=True)

    def _devtools_port(self) -> int:
        """Chromium writes the port it chose into the profile once DevTools listens."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            assert self.proc.poll() is None, f"chromium exited with {self.proc.returncode}: see {self.log.name}"
            time.sleep(0.1)
        raise AssertionError(f"chromium's DevTools did not start within {self.timeout_s} s")

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=self.timeout_s))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, f"{method}: {msg['error']}"
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for msg in self.events:
                if msg.get("method") == event:
                    return msg
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        raise AssertionError(f"no {event} within {self.timeout_s} s")

    def check(self, page: Path, screenshot: Path, height: int | None = 3000) -> PageCheck:
        """Load the page, read what rendered, save a screenshot (1400 px wide; `height` px of the top,
        or the whole page when None)."""
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=page.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        found = PageCheck(
            **json.loads(self.send("Runtime.evaluate", expression=RENDERED, returnByValue=True)["result"]["value"])
        )
        found.errors, found.requests = self._problems(page.resolve().as_uri())
        full = height is None or found.height <= height
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=full,
            clip={"x": 0, "y": 0, "width": 1400, "height": found.height if full else height, "scale": 1},
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return found

    def _problems(self, own_url: str) -> tuple[list[str], list[str]]:
        errors, requests = [], []
        for msg in self.events:
            method, p = msg.get("method"), msg.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                errors.append(f"failed to load: {p.get('errorText')}")
            elif method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if url != own_url and not url.startswith("data:"):
                    requests.append(url)
        return errors, requests
