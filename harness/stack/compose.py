"""The compose backend: the vendor's official images under Docker Compose.

Compose verbs (pull, up, exec, logs, down) go through python-on-whales; container state and the
Engine's stats stream through the docker SDK. The harness's own SDK workers run on the host, as
in the native backend, so task bodies stamp into the run directory the same way.

stacks/<platform>/compose.yaml is a plain Compose file. Its `x-bench` block (an extension field,
valid Compose) tells the harness which ports and secrets to generate into the per-run env file
(BENCH_PORT_<NAME>, BENCH_SECRET_<NAME>), which role each service plays, which one-shot setup
commands to run once the stack is healthy, and what the adapter connects to.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BenchError
from ..paths import STACKS_DIR
from .definition import RenderContext, Setting
from .native import NativeStack
from .service import ServiceSpec

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CHECK_EVERY_S = 1.0  # the watchdog asks the engine about containers at most this often


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupStep(_Strict):
    name: str
    service: str
    how: Literal["exec", "run"] = "exec"  # exec: in the running container; run: a fresh one, no dependencies
    command: list[str]
    capture: str | None = None            # its last line of stdout becomes {secret.<capture>}
    retry_s: float = 0


class ComposeBench(_Strict):
    description: str = ""
    deployment: str = "production"
    follows: str                          # the vendor document this file follows
    roles: dict[str, str] = Field(default_factory=dict)   # service -> server | database | queue | worker
    oneshots: list[str] = Field(default_factory=list)     # services that run to completion (schema, config)
    ports: list[str] = Field(default_factory=list)        # published on 127.0.0.1 as ${BENCH_PORT_<NAME>}
    secrets: list[str] = Field(default_factory=list)      # generated per run as ${BENCH_SECRET_<NAME>}
    setup: list[SetupStep] = Field(default_factory=list)
    endpoints: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Setting] = Field(default_factory=dict)
    worker_python: list[str] = Field(default_factory=list)  # the host-side SDK worker's environment
    ready_timeout_s: float = 300


@dataclass
class ComposeDef:
    platform: str
    path: Path
    bench: ComposeBench
    services: dict[str, dict]

    @property
    def images(self) -> list[str]:
        return sorted({s["image"] for s in self.services.values() if "image" in s})

    def waited_for(self) -> list[str]:
        """Services `up` waits for: all but those scaled to zero replicas."""
        return [n for n, s in self.services.items() if ((s.get("deploy") or {}).get("replicas", 1)) != 0]

    def oneshots(self) -> set[str]:
        """Services that run to completion: listed in x-bench, or depended on as completed."""
        done = set(self.bench.oneshots)
        for svc in self.services.values():
            deps = svc.get("depends_on") or {}
            if isinstance(deps, dict):
                done |= {name for name, d in deps.items() if (d or {}).get("condition") == "service_completed_successfully"}
        return done


def compose_path(platform: str) -> Path:
    return STACKS_DIR / platform / "compose.yaml"


def load(platform: str) -> ComposeDef:
    path = compose_path(platform)
    if not path.is_file():
        raise BenchError(f"no compose stack for {platform!r} ({path} is missing)")
    try:
        doc = yaml.safe_load(path.read_text())
        bench = ComposeBench.model_validate(doc.get("x-bench") or {})
    except yaml.YAMLError as err:
        raise BenchError(f"{path}: malformed YAML: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise BenchError(f"{path}: x-bench.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    services = doc.get("services") or {}
    unknown = (set(bench.roles) | set(bench.oneshots) | {s.service for s in bench.setup}) - set(services)
    if unknown:
        raise BenchError(f"{path}: x-bench names unknown services: {', '.join(sorted(unknown))}")
    return ComposeDef(platform, path, bench, services)


def env_var(kind: str, name: str) -> str:
    return f"BENCH_{kind}_{name.upper().replace('-', '_')}"


def render_env(cdef: ComposeDef, ctx: RenderContext, stamps_dir: Path) -> dict[str, str]:
    """The per-run variables the compose file interpolates: free ports, fresh secrets, paths."""
    env = {"BENCH_RUN_ID": ctx.run_id, "BENCH_STAMPS_DIR": str(stamps_dir)}
    for name in cdef.bench.ports:
        env[env_var("PORT", name)] = str(getattr(ctx.port, name))
    for name in cdef.bench.secrets:
        env[env_var("SECRET", name)] = getattr(ctx.secret, name)
    return env


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the run's secrets
    with os.fdopen(fd, "w") as out:
        for key, value in env.items():
            out.write(f"{key}={value}\n")
    return path


def engine_answers(timeout_s: float = 3.0) -> str | None:
    """None if a Docker engine answers; otherwise why not, in a few words."""
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return "no Docker engine answers (DOCKER_HOST is unset and /var/run/docker.sock does not exist)"
    try:
        import docker
        client = docker.from_env(timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as err:  # DockerException, connection errors
        reason = str(err).split("\n")[0]
        return f"no Docker engine answers at {host or '/var/run/docker.sock'} ({reason[:160]})"
    return None


def make_whales(cdef: ComposeDef, env_file: Path, project: str):
    from python_on_whales import DockerClient
    return DockerClient(compose_files=[cdef.path], compose_env_files=[env_file], compose_project_name=project,
                        compose_project_directory=cdef.path.parent)


def make_engine():
    import docker
    return docker.from_env()


def _state(container) -> tuple[str, str | None, int]:
    state = container.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    return state.get("Status", "unknown"), health, int(state.get("ExitCode") or 0)


@dataclass
class ComposeStack:
    """Containers from a compose file plus the harness's host-side workers, as one stack."""
    run_dir: Path
    cdef: ComposeDef
    project: str
    env_file: Path
    whales: Any = None                     # python_on_whales.DockerClient (injected in tests)
    engine: Any = None                     # docker.DockerClient (injected in tests)
    clock: Callable[[], float] = time.monotonic
    backend: str = "compose"
    host: NativeStack = field(init=False)
    _checked_at: float = field(default=0.0, init=False)
    _up: bool = field(default=False, init=False)

    def __post_init__(self):
        self.host = NativeStack(self.run_dir)
        self.log_dir = self.host.log_dir
        if self.whales is None:
            self.whales = make_whales(self.cdef, self.env_file, self.project)
        if self.engine is None:
            self.engine = make_engine()

    # -- bring-up, each phase timed by the driver ----------------------------------------
    def pull(self) -> dict[str, int]:
        """Pull every image; returns each image's size on disk (the stack's footprint)."""
        self.whales.compose.pull(quiet=True)
        return {image: int(self.engine.images.get(image).attrs.get("Size", 0)) for image in self.cdef.images}

    def up(self, progress: Callable[..., None] = lambda *a, **k: None) -> dict[str, float]:
        """Start every service; wait until each is healthy (or, for one-shots, exited 0).
        Returns seconds from `up` to each service's readiness."""
        t0 = self.clock()
        self._up = True  # from here on, stop() must run `down -v` whatever happens
        self.whales.compose.up(detach=True, quiet=True)
        pending = set(self.cdef.waited_for())
        oneshots = self.cdef.oneshots()
        ready: dict[str, float] = {}
        deadline = t0 + self.cdef.bench.ready_timeout_s
        while pending:
            for name, container in self.containers().items():
                if name not in pending:
                    continue
                status, health, code = _state(container)
                if name in oneshots:
                    if status == "exited" and code != 0:
                        raise BenchError(f"{name} exited with code {code}; last log line: {self._last_log(name)!r}")
                    is_ready = status == "exited"
                else:
                    if status in ("exited", "dead"):
                        raise BenchError(f"{name} exited with code {code} during start-up; "
                                         f"last log line: {self._last_log(name)!r}")
                    if health == "unhealthy":
                        raise BenchError(f"{name} is unhealthy; last log line: {self._last_log(name)!r}")
                    is_ready = status == "running" and health in (None, "healthy")
                if not is_ready:
                    continue
                ready[name] = self.clock() - t0
                pending.discard(name)
                progress("phase", name="start", detail=f"{name} ready")
            if pending and self.clock() > deadline:
                raise BenchError(f"not ready within {self.cdef.bench.ready_timeout_s:.0f}s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.25)
        return ready

    def run_setup(self, ctx: RenderContext) -> dict[str, float]:
        seconds = {}
        for step in self.cdef.bench.setup:
            t = self.clock()
            deadline = t + step.retry_s
            while True:
                command = [ctx.render(c) for c in step.command]
                try:
                    if step.how == "exec":
                        out = self.whales.compose.execute(step.service, command, tty=False)
                    else:
                        out = self.whales.compose.run(step.service, command, remove=True, dependencies=False,
                                                      tty=False)
                    break
                except Exception as err:  # python_on_whales.DockerException: the command failed
                    if self.clock() >= deadline:
                        raise BenchError(f"setup step {step.name} failed: {_first_line(err)}") from None
                    time.sleep(1.0)
            if step.capture:
                lines = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
                if not lines:
                    raise BenchError(f"setup step {step.name} printed nothing to capture as {step.capture}")
                ctx.capture(step.capture, lines[-1])
            seconds[step.name] = self.clock() - t
        return seconds

    # -- the stack interface the driver uses ----------------------------------------------
    def start(self, spec: ServiceSpec):
        return self.host.start(spec)

    @property
    def services(self) -> list:
        return [*self.containers_running(), *self.host.services]

    def containers_running(self) -> list[str]:
        oneshots = self.cdef.oneshots()
        return [n for n in self.containers() if n not in oneshots] if self._up else []

    def processes(self):
        return self.host.processes()

    def roles(self) -> dict[str, str]:
        return self.host.roles()

    def container_roles(self) -> dict[str, str]:
        return {name: self.cdef.bench.roles.get(name, "server") for name in self.cdef.services}

    def check_alive(self) -> None:
        self.host.check_alive()
        now = self.clock()
        if not self._up or now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        oneshots = self.cdef.oneshots()
        for name, container in self.containers().items():
            status, health, code = _state(container)
            if name not in oneshots and status in ("exited", "dead"):
                raise BenchError(f"{name} container stopped with exit code {code}; last log line: {self._last_log(name)!r}")

    def stop(self) -> None:
        """Host workers first, then the containers' logs, then `down -v`; always all three."""
        errors = []
        try:
            self.host.stop()
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
                errors.append(f"compose down -v: {_first_line(err)}")
        if errors:
            raise BenchError("; ".join(errors))

    # -- engine queries -------------------------------------------------------------------
    def containers(self) -> dict[str, Any]:
        found = self.engine.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})
        out = {}
        for container in found:
            service = container.labels.get(SERVICE_LABEL, container.name)
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


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
