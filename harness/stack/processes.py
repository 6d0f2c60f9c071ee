"""Processes on this host as services: each a process group on loopback, in a per-run directory.

Processes start in their own session so one signal reaches a service's whole tree, and (when
attached) with a parent-death signal so a harness killed outright does not leave servers behind.
Used for every service of a native stack, and for the harness's own workers on every backend.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import tenacity

from harness.model.errors import BenchError, ServiceDied
from harness.stack.ports import accepts, ensure_free
from harness.stack.service import ReadyCheck, ServiceSpec

READY_PROBE_EVERY_S = 0.05  # how often a starting service's readiness check is repeated
# A command check starts a process (an interpreter, often): every 50 ms it would take a good part of
# a core from the services starting beside it.
COMMAND_PROBE_EVERY_S = 0.5
ONESHOT_RETRY_EVERY_S = 0.5
STOP_GRACE_S = 15.0
TREE_POLL_S = 0.01  # how often a signalled tree's states are read until the signal is in force
HTTP_PROBE_TIMEOUT_S = 2.0


@dataclass
class Running:
    spec: ServiceSpec
    popen: subprocess.Popen
    log_path: Path
    state: str = "running"  # running | paused | stopped (by a fault operation, on purpose)
    launched_at: float = field(default_factory=time.monotonic)
    probed_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.popen.pid


class ProcessGroup:
    """The services of one run that run as local processes, with their logs and fault operations."""

    def __init__(self, run_dir: Path, attached: bool = True, ledger=None):
        self.run_dir = run_dir
        self.ledger = ledger  # harness.run.ledger.RunLedger: what to stop if the harness is killed outright
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.attached = attached
        self.services: list[Running] = []
        self._prepared: set[str] = set()  # `prepare` (e.g. initdb) runs on the first launch only

    # -- lifecycle -------------------------------------------------------------------------
    def launch(self, spec: ServiceSpec) -> Running:
        for role, port in spec.ports.items():
            ensure_free(port, f"{spec.name} ({role})")
        if not shutil.which(spec.command[0]):
            raise BenchError(f"{spec.name}: executable not found: {spec.command[0]}")
        if spec.prepare and spec.name not in self._prepared:
            spec.prepare()
            self._prepared.add(spec.name)
        log_path = self.log_dir / f"{spec.name}.log"
        command = list(spec.command)
        if self.attached and shutil.which("setpriv"):
            # Survives exec: the service gets SIGTERM if the harness dies without cleaning up.
            command = ["setpriv", "--pdeathsig", "SIGTERM", "--", *command]
        env = {**os.environ, **spec.env}
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd or self.run_dir,
                start_new_session=True,
                user=spec.user,
                group=spec.user,
            )
        running = Running(spec, popen, log_path)
        self.services.append(running)
        if self.ledger is not None:
            self.ledger.launched(spec.name, popen.pid)
        return running

    def wait_ready(self, running: Running) -> None:
        """Probe until ready. No stop here: ready_now raises at the check's own deadline (counted from the
        launch, not from this call) or as soon as the process exited, naming the service either way."""
        tenacity.Retrying(wait=tenacity.wait_fixed(READY_PROBE_EVERY_S), retry=tenacity.retry_if_not_result(bool))(
            self.ready_now, [running]
        )

    def ready_now(self, starting: list[Running]) -> list[Running]:
        """One readiness probe of each starting service: those ready now. A service that exited, or
        whose check timed out (counted from its launch), is one error naming it."""
        ready = []
        for running in starting:
            check = running.spec.ready
            code = running.popen.poll()
            if code is not None:
                raise BenchError(
                    f"{running.spec.name} exited with code {code} before it was ready; "
                    f"last log line: {last_line(running.log_path)!r}"
                )
            if check is not None and check.command and time.monotonic() - running.probed_at < COMMAND_PROBE_EVERY_S:
                continue
            running.probed_at = time.monotonic()
            if check is None or probe(check):
                ready.append(running)
            elif time.monotonic() > running.launched_at + check.timeout_s:
                raise BenchError(
                    f"{running.spec.name} not ready after {check.timeout_s:.0f}s "
                    f"({check.describe()}); log: {running.log_path}"
                )
        return ready

    def start(self, spec: ServiceSpec) -> Running:
        running = self.launch(spec)
        self.wait_ready(running)
        return running

    def run_oneshot(self, spec: ServiceSpec) -> str:
        """Run a one-shot step (migration, schema, token) to completion; return its stdout."""
        if not shutil.which(spec.command[0]):
            raise BenchError(f"{spec.name}: executable not found: {spec.command[0]}")

        def give_up(state: tenacity.RetryCallState) -> str:
            code = state.outcome.result()[0]
            tail = last_line(self.log_dir / f"{spec.name}.log")
            retried = f" (retried for {spec.retry_s:g}s)" if spec.retry_s else ""
            raise BenchError(f"{spec.name} failed with exit code {code}{retried}; last log line: {tail!r}")

        # A failed exit is retried until retry_s has passed (a server still starting); an error, never.
        code_and_out = tenacity.Retrying(
            stop=tenacity.stop_after_delay(spec.retry_s),
            wait=tenacity.wait_fixed(ONESHOT_RETRY_EVERY_S),
            retry=tenacity.retry_if_result(lambda got: got[0] != 0),
            retry_error_callback=give_up,
        )(self._oneshot_attempt, spec)
        return code_and_out[1]

    def _oneshot_attempt(self, spec: ServiceSpec) -> tuple[int, str]:
        timeout = spec.ready.timeout_s if spec.ready else 300.0
        proc = subprocess.Popen(
            spec.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **spec.env},
            cwd=spec.cwd or self.run_dir,
            start_new_session=True,
            user=spec.user,
            group=spec.user,
        )
        if self.ledger is not None:
            self.ledger.launched(spec.name, proc.pid)
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
        return proc.returncode, out.decode(errors="replace")

    def check_alive(self) -> None:
        for running in self.services:
            if running.state == "stopped":
                continue
            code = running.popen.poll()
            if code is not None:
                raise ServiceDied(running.spec.name, code, last_line(running.log_path))

    def processes(self) -> dict[str, psutil.Process]:
        out = {}
        for running in self.services:
            if running.state == "stopped":
                continue
            try:
                out[running.spec.name] = psutil.Process(running.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def roles(self) -> dict[str, str]:
        return {r.spec.name: r.spec.role for r in self.services}

    def names(self) -> list[str]:
        return [r.spec.name for r in self.services]

    def stop(self) -> None:
        while self.services:
            running = self.services.pop()
            if running.state != "stopped":
                stop_tree(running.pid, graceful_signal(running.spec))

    # -- faults ---------------------------------------------------------------------------
    def find(self, name: str) -> Running | None:
        return next((r for r in self.services if r.spec.name == name), None)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the service's whole tree; SIGKILL is immediate, others get the stop grace period."""
        running = self._get(name)
        if running.state == "stopped":
            raise BenchError(f"{name} is already stopped")
        running.state = "stopped"  # first, so the watchdog does not report the exit as a death
        stop_tree(running.pid, sig, grace_s=0 if sig == signal.SIGKILL else STOP_GRACE_S)
        running.popen.poll()

    def mark_dead(self, name: str) -> None:
        """A service found dead is stopped for check_alive (until start_again); what its process
        group still holds is killed (a group id is never reused while a member lives)."""
        running = self._get(name)
        running.state = "stopped"
        _signal_group(running.pid, signal.SIGKILL)

    def start_again(self, name: str) -> None:
        """Relaunch a stopped service with the same command, ports and environment; wait until ready."""
        old = self._get(name)
        if old.state != "stopped":
            raise BenchError(f"{name} is {old.state}; only a stopped service can be started again")
        self.services.remove(old)
        if old.spec.ready is not None and old.spec.ready.file:
            Path(old.spec.ready.file).unlink(missing_ok=True)  # the old process's "ready" is not the new one's
        self.start(old.spec)

    def restart(self, name: str) -> None:
        self.kill(name, graceful_signal(self._get(name).spec))
        self.start_again(name)

    def pause(self, name: str) -> None:
        running = self._get(name)
        if running.state != "running":
            raise BenchError(f"{name} is {running.state}; only a running service can be paused")
        _signal_tree(running.pid, signal.SIGSTOP)
        running.state = "paused"
        _await_tree(running.pid, stopped=True)

    def resume(self, name: str) -> None:
        running = self._get(name)
        if running.state != "paused":
            raise BenchError(f"{name} is {running.state}, not paused")
        _signal_tree(running.pid, signal.SIGCONT)
        running.state = "running"
        _await_tree(running.pid, stopped=False)

    def _get(self, name: str) -> Running:
        running = self.find(name)
        if running is None:
            raise unknown_service(name, self.names())
        return running

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def unknown_service(service: str, known: list[str]) -> BenchError:
    return BenchError(f"no service {service!r} in this stack; services: {', '.join(known) or 'none'}")


def graceful_signal(spec: ServiceSpec | None) -> int:
    """PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for clients); everything else SIGTERM."""
    return signal.SIGINT if spec is not None and spec.role == "database" else signal.SIGTERM


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _signal_tree(pid: int, sig: int) -> None:
    """The group and every descendant: PostgreSQL's backends call setsid() into groups of their own,
    so signalling the postmaster's group alone would freeze the postmaster and nothing else."""
    _signal_group(pid, sig)
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for child in children:
        try:
            child.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def _await_tree(pid: int, stopped: bool, timeout_s: float = 5.0) -> None:
    """Signals are delivered asynchronously: return once every process of the tree is (not) stopped,
    so a pause is in force when pause() returns. No look is taken past the deadline."""

    def give_up(state: tenacity.RetryCallState) -> None:
        raise BenchError(f"process group {pid} did not {'stop' if stopped else 'continue'} within {timeout_s:.0f}s")

    tenacity.Retrying(
        stop=tenacity.stop_before_delay(timeout_s),
        wait=tenacity.wait_fixed(TREE_POLL_S),
        retry=tenacity.retry_if_not_result(bool),
        retry_error_callback=give_up,
    )(_tree_is, pid, stopped)


def _tree_is(pid: int, stopped: bool) -> bool:
    """Every live process of the tree stopped (or, with stopped=False, none stopped); a tree gone counts."""
    try:
        root = psutil.Process(pid)
        states = [p.status() for p in (root, *root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return True
    return all((s == psutil.STATUS_STOPPED) == stopped for s in states if s != psutil.STATUS_ZOMBIE)


def stop_tree(pid: int, sig: int = signal.SIGTERM, grace_s: float = STOP_GRACE_S) -> None:
    """Stop a service's process group, then anything of its tree that left the group."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    _signal_group(pid, sig)
    _signal_group(pid, signal.SIGCONT)  # a paused service must run to act on the signal
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    if alive:
        _signal_group(pid, signal.SIGKILL)
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
        try:  # urlopen followed redirects: a 2xx after them is ready
            return httpx.get(check.http, timeout=HTTP_PROBE_TIMEOUT_S, follow_redirects=True).is_success
        except (httpx.HTTPError, OSError):
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
