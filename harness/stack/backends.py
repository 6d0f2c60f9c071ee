"""Which backend brings a platform up: native processes, Docker Compose, or someone else's deployment.

`resolve` is the one place the choice is made: the driver's stack factory, `bench doctor` and
`bench list` all call it, and none of them works it out again.
"""

from __future__ import annotations

from typing import Callable

from harness.model.errors import BenchError
from harness.model.registry import PlatformInfo
from harness.stack import compose

BACKENDS = {
    "auto": "compose where a Docker engine answers, native otherwise",
    "native": "services as local processes from registry packages",
    "compose": "the vendor's official images under Docker Compose (needs a Docker engine)",
    "external": "an already-running deployment; endpoints from --external-config or BENCH_EXTERNAL_*",
}
DOCKER_ENGINE = "a Docker engine with the compose plugin"
DOCKER_FIX = "start Docker (or set DOCKER_HOST) and install `docker compose`"

EngineCheck = Callable[[], "str | None"]


class BackendUnavailable(BenchError):
    """The requested backend cannot run this platform here. str() is the one line for the user;
    `needs` names what is missing and `fix` how to get it (for `bench doctor`)."""

    def __init__(self, message: str, needs: str, fix: str = ""):
        super().__init__(message)
        self.needs, self.fix = needs, fix


def docker_unavailable() -> str | None:
    """None when a Docker engine answers, else why not (the compose module's probe, looked up per call)."""
    return compose.docker_unavailable()


def available(info: PlatformInfo) -> list[str]:
    """The backends this platform has files for (native also for in-process platforms), registry order."""
    return [b for b, ok in (("native", info.has_native or info.in_process), ("compose", info.has_compose)) if ok]


def resolve(requested: str, info: PlatformInfo, engine_check: EngineCheck | None = None) -> str:
    """The backend a run of this platform will use: native, compose or external.
    Raises BackendUnavailable (one line) when the requested one cannot be used here."""
    if requested not in BACKENDS:
        raise BenchError(f"unknown backend {requested!r}; known: {', '.join(BACKENDS)}")
    engine_check = engine_check or docker_unavailable
    if info.in_process:
        if requested not in ("auto", "native"):
            raise BackendUnavailable(
                f"{info.name} runs in-process; it has no {requested} backend",
                f"the {requested} backend",
                "run it with --backend native",
            )
        return "native"
    if requested == "auto":
        return _auto(info, engine_check)
    if requested == "native" and not info.has_native:
        raise BackendUnavailable(
            f"{info.name} has no native stack: {_why_not_native(info)}",
            "a native stack",
            f"{_why_not_native(info)}; run it with --backend compose where Docker is available",
        )
    if requested == "compose":
        if not info.has_compose:
            raise BackendUnavailable(
                f"{info.name} has no compose stack (stacks/{info.name}/compose.yaml is missing)",
                f"stacks/{info.name}/compose.yaml",
                "this platform has no compose stack",
            )
        no_engine = engine_check()
        if no_engine:
            raise BackendUnavailable(
                f"the compose backend needs a Docker engine: {no_engine}", DOCKER_ENGINE, f"{no_engine}; {DOCKER_FIX}"
            )
    return requested


def _auto(info: PlatformInfo, engine_check: EngineCheck) -> str:
    no_engine = engine_check() if info.has_compose else "no compose stack"
    if no_engine is None:
        return "compose"
    if info.has_native:
        return "native"
    natively = f"; natively: {info.native_missing}" if info.native_missing else ""
    raise BackendUnavailable(
        f"{info.name} runs only under compose, and {no_engine}{natively}", DOCKER_ENGINE, f"{no_engine}; {DOCKER_FIX}"
    )


def _why_not_native(info: PlatformInfo) -> str:
    return info.native_missing or f"stacks/{info.name}/native.yaml is missing"
