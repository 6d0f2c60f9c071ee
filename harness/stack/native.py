"""The native backend: each service is a process group on loopback, in a per-run directory.

Processes start in their own session so one signal reaches a service's whole tree, and (when
attached) with a parent-death signal so a harness killed outright does not leave servers behind.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..errors import BenchError
from .ports import accepts, ensure_free
from .service import ReadyCheck, ServiceSpec

POLL_S = 0.05
STOP_GRACE_S = 15.0


@dataclass
class Running:
    spec: ServiceSpec
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


class NativeStack:
    backend = "native"

    def __init__(self, run_dir: Path, attached: bool = True):
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.attached = attached
        self.services: list[Running] = []

    # -- lifecycle -------------------------------------------------------------------------
    def launch(self, spec: ServiceSpec) -> Running:
        for role, port in spec.ports.items():
            ensure_free(port, f"{spec.name} ({role})")
        if not shutil.which(spec.command[0]):
            raise BenchError(f"{spec.name}: executable not found: {spec.command[0]}")
        if spec.prepare:
            spec.prepare()
        log_path = self.log_dir / f"{spec.name}.log"
        command = list(spec.command)
        if self.attached and shutil.which("setpriv"):
            # Survives exec: the service gets SIGTERM if the harness dies without cleaning up.
            command = ["setpriv", "--pdeathsig", "SIGTERM", "--", *command]
        env = {**os.environ, **spec.env}
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=env, cwd=spec.cwd or self.run_dir, start_new_session=True,
                                     user=spec.user, group=spec.user)
        running = Running(spec, popen, log_path)
        self.services.append(running)
        return running

    def wait_ready(self, running: Running) -> None:
        check = running.spec.ready
        if check is None:
            return
        deadline = time.monotonic() + check.timeout_s
        while True:
            code = running.popen.poll()
            if code is not None:
                raise BenchError(f"{running.spec.name} exited with code {code} before it was ready; "
                                 f"last log line: {last_line(running.log_path)!r}")
            if probe(check):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{running.spec.name} not ready after {check.timeout_s:.0f}s "
                                 f"({check.describe()}); log: {running.log_path}")
            time.sleep(POLL_S)

    def run_oneshot(self, spec: ServiceSpec) -> str:
        """Run a one-shot step (migration, schema, token) to completion; return its stdout."""
        if not shutil.which(spec.command[0]):
            raise BenchError(f"{spec.name}: executable not found: {spec.command[0]}")
        timeout = spec.ready.timeout_s if spec.ready else 300.0
        deadline = time.monotonic() + spec.retry_s
        env = {**os.environ, **spec.env}
        while True:
            proc = subprocess.Popen(spec.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, cwd=spec.cwd or self.run_dir,
                                    start_new_session=True, user=spec.user, group=spec.user)
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_tree(proc.pid, grace_s=2)
                proc.communicate()
                raise BenchError(f"{spec.name} did not finish within {timeout:.0f}s") from None
            finally:
                if proc.poll() is None:  # interrupted: leave nothing behind
                    stop_tree(proc.pid, grace_s=2)
            with open(self.log_dir / f"{spec.name}.log", "ab") as log:
                log.write(out + err)
            if proc.returncode == 0:
                return out.decode(errors="replace")
            if time.monotonic() >= deadline:
                tail = last_line(self.log_dir / f"{spec.name}.log")
                raise BenchError(f"{spec.name} failed with exit code {proc.returncode}; last log line: {tail!r}")
            time.sleep(0.5)

    def start(self, spec: ServiceSpec) -> Running:
        running = self.launch(spec)
        self.wait_ready(running)
        return running

    def check_alive(self) -> None:
        for running in self.services:
            code = running.popen.poll()
            if code is not None:
                raise BenchError(f"{running.spec.name} died with exit code {code}; "
                                 f"last log line: {last_line(running.log_path)!r}")

    def processes(self) -> dict[str, psutil.Process]:
        out = {}
        for running in self.services:
            try:
                out[running.spec.name] = psutil.Process(running.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def roles(self) -> dict[str, str]:
        return {r.spec.name: r.spec.role for r in self.services}

    def stop(self) -> None:
        while self.services:
            running = self.services.pop()
            stop_tree(running.pid, running.spec)

    def __enter__(self) -> "NativeStack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_tree(pid: int, spec: ServiceSpec | None = None, grace_s: float = STOP_GRACE_S) -> None:
    """Stop a service's process group, then anything of its tree that left the group."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    sig = signal.SIGINT if spec is not None and spec.role == "database" else signal.SIGTERM  # postgres: fast shutdown
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    if alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
    try:  # reap our own child so no zombie is left in the table
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def probe(check: ReadyCheck) -> bool:
    if check.http:
        try:
            with urllib.request.urlopen(check.http, timeout=2) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False
    if check.tcp:
        return accepts(check.tcp)
    if check.command:
        return subprocess.run(list(check.command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    return bool(check.file) and Path(check.file).exists()


def last_line(path: Path, limit: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""
