"""The compose backend: the vendor's official images under Docker Compose.

Compose verbs (pull, up, exec, run, down) go through python-on-whales; container state, the
fault operations and the Engine's stats stream through the docker SDK. The harness's own SDK
workers run on the host, as in the native backend, so task bodies stamp into the run directory
the same way.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import tenacity

from harness.model.errors import BenchError, ServiceDied
from harness.stack import compose, install
from harness.stack.base import Artifacts, ServiceInfo, Shape, tree_pids
from harness.stack.container_stats import ContainerSampler
from harness.stack.definition import RenderContext
from harness.stack.native import HostStack
from harness.stack.processes import unknown_service

CHECK_EVERY_S = 1.0  # the watchdog asks the engine about containers at most this often
READY_POLL_S = 0.25  # how often container states are read while waiting for readiness
SETUP_RETRY_EVERY_S = 1.0


class _StillPending(Exception):
    """A look at the containers left some services not ready yet: look again."""


def _state(container) -> tuple[str, str | None, int]:
    state = container.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    return state.get("Status", "unknown"), health, int(state.get("ExitCode") or 0)


class ComposeStack(HostStack):
    """Containers from a compose file plus the harness's host-side workers, as one stack."""

    backend = "compose"

    def __init__(
        self,
        cdef: compose.ComposeDef,
        run_dir: Path,
        run_id: str,
        stamps_dir: Path,
        pinned_ports: dict[str, int] | None = None,
        whales: Any = None,
        engine: Any = None,
        ledger=None,
    ):
        super().__init__(run_dir, ledger=ledger)
        self.cdef, self.run_dir, self.run_id, self.stamps_dir = cdef, run_dir, run_id, stamps_dir
        self.project = f"bench-{run_id}".lower()
        self.pinned_ports = dict(pinned_ports or {})
        self.whales, self.engine = whales, engine  # python_on_whales / docker clients (injected in tests)
        self.ctx: RenderContext | None = None
        self._up = False
        self._checked_at = 0.0
        self._faulted: set[str] = set()  # containers a fault operation stopped on purpose

    # -- bring-up -------------------------------------------------------------------------
    def prepare(self) -> Iterator[str]:
        env_bin = None
        if self.cdef.bench.worker_python:  # only the host-side SDK workers' environment
            got = install.python_env(self.cdef.platform, self.cdef.bench.worker_python)
            env_bin = got.bin_dir
            self._artifacts = Artifacts(
                env_bin=env_bin,
                versions=dict(got.versions),
                cached=got.cached,
                first_install_s=got.first_install_s,
                footprint_bytes=got.footprint_bytes,
            )
            yield "install"
        self.ctx = RenderContext(self.run_id, self.run_dir, env_bin or self.run_dir, self.pinned_ports)
        env_file = compose.write_env_file(
            self.run_dir / "compose.env",  # in the run's temp dir, never in results
            compose.render_env(self.cdef, self.ctx, self.stamps_dir),
        )
        # mounted into containers whose user is not ours (Kestra's image runs as `kestra`): anyone may add files
        self.stamps_dir.chmod(0o1777)
        if self.whales is None:
            self.whales = compose.make_whales(self.cdef, env_file, self.project)
        if self.engine is None:
            self.engine = compose.make_engine()
        self.whales.compose.pull(quiet=True)
        images = {image: int(self.engine.images.get(image).attrs.get("Size", 0)) for image in self.cdef.images}
        a = self._artifacts
        a.images = images
        a.footprint_bytes += sum(images.values())
        a.versions.update({f"image {name}": name.rsplit(":", 1)[-1] for name in images})
        yield "pull"

    def bring_up(self) -> Iterator[str]:
        """`up`, then each service as it is healthy (one-shots: exited 0), then the setup commands."""
        self._up = True  # from here on, stop() must run `down -v` whatever happens
        if self.group.ledger is not None:
            self.group.ledger.set_compose_project(self.project)
        self.whales.compose.up(detach=True, quiet=True)
        yield from self._await_ready(set(self.cdef.waited_for()), self.cdef.bench.ready_timeout_s)
        yield from self.run_setup()

    def _await_ready(self, pending: set[str], timeout_s: float) -> Iterator[str]:
        """Yields each service of `pending` as soon as it is ready (the caller times each one), reading the
        containers every READY_POLL_S; past `timeout_s`, one error naming those still pending. A service
        that exited or is unhealthy ends the wait at once: only _StillPending is retried."""
        if not pending:
            return

        def give_up(state: tenacity.RetryCallState) -> None:
            raise BenchError(f"not ready within {timeout_s:.0f}s: {', '.join(sorted(pending))}")

        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_delay(timeout_s),
            wait=tenacity.wait_fixed(READY_POLL_S),
            retry=tenacity.retry_if_exception_type(_StillPending),
            retry_error_callback=give_up,
        ):
            with attempt:
                for name, container in self.containers().items():
                    if name in pending and self._is_ready(name, container):
                        pending.discard(name)
                        yield name
                if pending:
                    raise _StillPending()

    def _is_ready(self, name: str, container) -> bool:
        status, health, code = _state(container)
        if name in self.cdef.oneshots():
            if status == "exited" and code != 0:
                raise BenchError(f"{name} exited with code {code}; last log line: {self._last_log(name)!r}")
            return status == "exited"
        if status in ("exited", "dead"):
            raise BenchError(f"{name} exited with code {code} during start-up; last log line: {self._last_log(name)!r}")
        if health == "unhealthy":
            raise BenchError(f"{name} is unhealthy; last log line: {self._last_log(name)!r}")
        return status == "running" and health in (None, "healthy")

    def run_setup(self) -> Iterator[str]:
        """The x-bench setup commands (e.g. Hatchet's token), in order; yields each name when done."""
        for step in self.cdef.bench.setup:
            out = self._setup_output(step)
            if step.capture:
                lines = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
                if not lines:
                    raise BenchError(f"setup step {step.name} printed nothing to capture as {step.capture}")
                self.ctx.capture(step.capture, lines[-1])
            yield step.name

    def _setup_output(self, step) -> str:
        """The step's stdout. A failed command (python_on_whales.DockerException) is run again every
        SETUP_RETRY_EVERY_S until step.retry_s has passed (a server still starting), then it is the error."""
        command = [self.ctx.render(c) for c in step.command]

        def once() -> str:
            if step.how == "exec":
                return self.whales.compose.execute(step.service, command, tty=False)
            return self.whales.compose.run(step.service, command, remove=True, dependencies=False, tty=False)

        def give_up(state: tenacity.RetryCallState) -> str:
            retried = f" (retried for {step.retry_s:g}s)" if step.retry_s else ""
            raise BenchError(f"setup step {step.name} failed{retried}: {compose.first_line(state.outcome.exception())}")

        return tenacity.Retrying(
            stop=tenacity.stop_after_delay(step.retry_s),
            wait=tenacity.wait_fixed(SETUP_RETRY_EVERY_S),
            retry=tenacity.retry_if_exception_type(Exception),
            retry_error_callback=give_up,
        )(once)

    def endpoints(self) -> dict[str, str]:
        return {k: self.ctx.render(v) for k, v in self.cdef.bench.endpoints.items()} if self.ctx else {}

    def settings(self) -> dict[str, dict]:
        return {k: s.model_dump() for k, s in self.cdef.bench.settings.items()}

    def secrets(self) -> list[str]:
        return self.ctx.secrets() if self.ctx else []

    def shape(self) -> Shape:
        return Shape(self.cdef.bench.deployment, "compose", "compose", self.cdef.bench.description)

    # -- the running stack ----------------------------------------------------------------
    def services(self) -> list[ServiceInfo]:
        roles = self.container_roles()
        return [*(ServiceInfo(n, roles.get(n, "server")) for n in self.containers_running()), *super().services()]

    def containers_running(self) -> list[str]:
        oneshots = self.cdef.oneshots()
        return [n for n in self.containers() if n not in oneshots] if self._up else []

    def container_roles(self) -> dict[str, str]:
        return {name: self.cdef.bench.roles.get(name, "server") for name in self.cdef.services}

    def pids(self) -> set[int]:
        roots = []
        for container in self.containers().values():
            pid = container.attrs.get("State", {}).get("Pid") or 0
            if pid > 0:
                try:
                    roots.append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    pass
        return super().pids() | tree_pids(roots)

    def extra_samplers(self) -> list:
        return [ContainerSampler(self.containers, self.container_roles())]

    def check_alive(self) -> None:
        super().check_alive()
        now = time.monotonic()
        if not self._up or now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        oneshots = self.cdef.oneshots()
        for name, container in self.containers().items():
            status, _, code = _state(container)
            if name not in oneshots and name not in self._faulted and status in ("exited", "dead"):
                raise ServiceDied(name, code, self._last_log(name), how="container stopped")

    # -- faults: host workers through the process group, containers through the engine ------
    def mark_dead(self, service: str) -> None:
        if self.group.find(service):
            return super().mark_dead(service)
        self._faulted.add(service)  # exited already: the engine has nothing left to stop

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        if self.group.find(service):
            return super().kill(service, sig)
        container = self._container(service)
        self._faulted.add(service)
        container.kill(signal=signal.Signals(sig).name)
        container.wait(timeout=30)

    def start(self, service: str) -> None:
        if self.group.find(service):
            return super().start(service)
        self._container(service).start()
        for _ in self._await_ready({service}, self.cdef.bench.ready_timeout_s):
            pass
        self._faulted.discard(service)

    def restart(self, service: str) -> None:
        if self.group.find(service):
            return super().restart(service)
        self._faulted.add(service)
        self._container(service).restart(timeout=10)
        for _ in self._await_ready({service}, self.cdef.bench.ready_timeout_s):
            pass
        self._faulted.discard(service)

    def pause(self, service: str) -> None:
        if self.group.find(service):
            return super().pause(service)
        self._container(service).pause()

    def resume(self, service: str) -> None:
        if self.group.find(service):
            return super().resume(service)
        self._container(service).unpause()

    def _container(self, service: str):
        found = self.containers().get(service)
        if found is None:
            raise unknown_service(service, [*self.containers_running(), *self.group.names()])
        return found

    # -- tear-down --------------------------------------------------------------------------
    def stop(self) -> None:
        """Host workers first, then the containers' logs, then `down -v`; always all three."""
        errors = []
        try:
            self.stop_host()
        except Exception as err:
            errors.append(f"host processes: {err}")
        if self._up:
            try:
                self._save_logs()
            except Exception:
                pass  # logs are a convenience; removing the containers is not
            try:
                self.whales.compose.down(volumes=True, remove_orphans=True, timeout=10)
                self._up = False
            except Exception as err:
                errors.append(f"compose down -v: {compose.first_line(err)}")
        if errors:
            raise BenchError("; ".join(errors))

    # -- engine queries -------------------------------------------------------------------
    def containers(self) -> dict[str, Any]:
        found = self.engine.containers.list(all=True, filters={"label": f"{compose.PROJECT_LABEL}={self.project}"})
        out = {}
        for container in found:
            service = container.labels.get(compose.SERVICE_LABEL, container.name)
            number = container.labels.get("com.docker.compose.container-number", "1")
            out[service if number == "1" else f"{service}-{number}"] = container
        return out

    def _last_log(self, service: str) -> str:
        try:
            container = self.containers().get(service)
            text = container.logs(tail=5).decode(errors="replace") if container is not None else ""
        except Exception:
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""

    def _save_logs(self) -> None:
        for name, container in self.containers().items():
            (self.log_dir / f"{name}.log").write_bytes(container.logs())
