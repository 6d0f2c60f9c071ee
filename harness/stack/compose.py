"""Compose stack files: stacks/<platform>/compose.yaml, its x-bench block, the per-run env file.

stacks/<platform>/compose.yaml is a plain Compose file. Its `x-bench` block (an extension field,
valid Compose) tells the harness which ports and secrets to generate into the per-run env file
(BENCH_PORT_<NAME>, BENCH_SECRET_<NAME>), which role each service plays, which one-shot setup
commands to run once the stack is healthy, and what the adapter connects to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.model.errors import BenchError
from harness.model.registry import stacks_root
from harness.model.yamlfile import read_yaml_mapping, validate_model
from harness.stack.definition import RenderContext, Setting

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupStep(_Strict):
    name: str
    service: str
    how: Literal["exec", "run"] = "exec"  # exec: in the running container; run: a fresh one, no dependencies
    command: list[str]
    capture: str | None = None  # its last line of stdout becomes {secret.<capture>}
    retry_s: float = 0


class ComposeBench(_Strict):
    description: str = ""
    deployment: str = "production"
    follows: str  # the vendor document this file follows
    roles: dict[str, str] = Field(default_factory=dict)  # service -> server | database | queue | worker
    oneshots: list[str] = Field(default_factory=list)  # services that run to completion (schema, config)
    ports: list[str] = Field(default_factory=list)  # published on 127.0.0.1 as ${BENCH_PORT_<NAME>}
    secrets: list[str] = Field(default_factory=list)  # generated per run as ${BENCH_SECRET_<NAME>}
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
                done |= {
                    name for name, d in deps.items() if (d or {}).get("condition") == "service_completed_successfully"
                }
        return done


def compose_path(platform: str) -> Path:
    return stacks_root() / platform / "compose.yaml"  # BENCH_STACKS_DIR or the repository's


def load(platform: str) -> ComposeDef:
    """The platform's compose.yaml: its x-bench block validated, every service it names present."""
    path = compose_path(platform)
    if not path.is_file():
        raise BenchError(f"no compose stack for {platform!r} ({path} is missing)")
    doc = read_yaml_mapping(path, "a compose file")
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise BenchError(f"{path}: a compose file needs a services mapping")
    bench = validate_model(doc.get("x-bench") or {}, ComposeBench, str(path), prefix="x-bench.")
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


def docker_unavailable(timeout_s: float = 3.0) -> str | None:
    """Why no Docker engine answers, in a few words; None when one does."""
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return "no Docker engine answers (DOCKER_HOST is unset and /var/run/docker.sock does not exist)"
    try:
        import docker  # lazy: the Docker SDK, only where a compose stack runs

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
    from python_on_whales import DockerClient  # lazy: only where a compose stack runs

    return DockerClient(
        compose_files=[cdef.path],
        compose_env_files=[env_file],
        compose_project_name=project,
        compose_project_directory=cdef.path.parent,
    )


def make_engine():
    import docker  # lazy: the Docker SDK, only where a compose stack runs

    return docker.from_env()


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
