"""What each platform needs on this machine, and what is missing."""
from __future__ import annotations

from importlib import metadata

from .errors import BenchError
from .platforms import adapter_class
from .platforms.base import Requirement


def check(platform: str, backend: str = "native") -> list[Requirement]:
    """What `bench run PLATFORM --backend BACKEND` needs here, each marked ok or missing."""
    from .backends import has_compose, has_native
    from .platforms import NOT_NATIVE
    from .stack.compose import engine_answers
    cls = adapter_class(platform)
    if backend == "auto":
        backend = "compose" if cls.stack and has_compose(cls.stack) and engine_answers() is None else "native"
    if backend == "compose":
        if not has_compose(cls.stack):
            return [Requirement(f"stacks/{cls.stack}/compose.yaml", False, "this platform has no compose stack")]
        no_engine = engine_answers()
        return [Requirement("a Docker engine with the compose plugin", no_engine is None,
                            f"{no_engine}; start Docker (or set DOCKER_HOST) and install `docker compose`")]
    if cls.stack and not has_native(cls.stack):
        why = NOT_NATIVE.get(platform, f"stacks/{cls.stack}/native.yaml is missing")
        return [Requirement("a native stack", False, f"{why}; run it with --backend compose where Docker is available")]
    reqs: list[Requirement] = []
    if cls.stack and backend == "native":
        from .stack import definition
        try:
            d = definition.load(cls.stack)
        except BenchError as err:
            return [Requirement(f"stack definition stacks/{cls.stack}", False, str(err))]
        for dist in d.install.python:
            try:
                reqs.append(Requirement(f"{dist} {metadata.version(dist)} (PyPI, pinned in uv.lock)", True))
            except metadata.PackageNotFoundError:
                reqs.append(Requirement(f"{dist} (PyPI)", False, "run `make install`"))
        if d.install.go:
            from .install import go_version, version_tuple
            g = d.install.go
            have = go_version()
            ok = have is not None and version_tuple(have) >= version_tuple(g.requires_go)
            reqs.append(Requirement(
                f"Go >= {g.requires_go} to build {g.module}@{g.version} (have: {have or 'none'})", ok,
                f"install a Go toolchain >= {g.requires_go} and put `go` on PATH; the build uses the Go module proxy"))
    reqs.extend(cls().requirements())
    return reqs


def runnable(platform: str, backend: str = "native") -> bool:
    return all(r.ok for r in check(platform, backend))
