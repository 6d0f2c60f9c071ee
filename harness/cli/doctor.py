"""What each platform needs on this machine, and what is missing."""

from __future__ import annotations

from importlib import metadata

from harness.model.errors import BenchError
from harness.platforms import adapter_class, get
from harness.platforms.base import Requirement
from harness.stack import definition
from harness.stack.backends import (
    DOCKER_ENGINE,
    BackendUnavailable,
    EngineCheck,
    resolve,
)
from harness.stack.install import go_version, version_tuple


def check(platform: str, backend: str = "native", engine_check: EngineCheck | None = None) -> list[Requirement]:
    """What `bench run PLATFORM --backend BACKEND` needs here, each marked ok or missing.
    The backend itself is chosen by backends.resolve, as a run would choose it."""
    info = get(platform)
    try:
        chosen = resolve(backend, info, engine_check)
    except BackendUnavailable as err:
        return [Requirement(err.needs, False, err.fix)]
    if chosen == "compose":
        return [Requirement(DOCKER_ENGINE, True)]
    reqs: list[Requirement] = []
    if chosen == "native" and info.has_native:
        try:
            reqs = _install_requirements(definition.load(info.name))
        except BenchError as err:
            return [Requirement(f"stack definition stacks/{info.name}", False, str(err))]
    return reqs + adapter_class(platform)().requirements()


def _install_requirements(d: definition.StackDef) -> list[Requirement]:
    """The packages and toolchains a native stack installs from."""
    reqs: list[Requirement] = []
    for dist in d.install.python:
        try:
            reqs.append(Requirement(f"{dist} {metadata.version(dist)} (PyPI, pinned in uv.lock)", True))
        except metadata.PackageNotFoundError:
            reqs.append(Requirement(f"{dist} (PyPI)", False, "run `make install`"))
    if d.install.go:
        g = d.install.go
        have = go_version()
        ok = have is not None and version_tuple(have) >= version_tuple(g.requires_go)
        reqs.append(
            Requirement(
                f"Go >= {g.requires_go} to build {g.module}@{g.version} (have: {have or 'none'})",
                ok,
                f"install a Go toolchain >= {g.requires_go} and put `go` on PATH; the build uses the Go module proxy",
            )
        )
    return reqs


def runnable(platform: str, backend: str = "native", engine_check: EngineCheck | None = None) -> bool:
    return all(r.ok for r in check(platform, backend, engine_check))
