"""What each platform needs on this machine, and what is missing."""
from __future__ import annotations

from importlib import metadata

from .errors import BenchError
from .platforms import adapter_class
from .platforms.base import Requirement


def check(platform: str) -> list[Requirement]:
    cls = adapter_class(platform)
    reqs: list[Requirement] = []
    if cls.stack:
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


def runnable(platform: str) -> bool:
    return all(r.ok for r in check(platform))
