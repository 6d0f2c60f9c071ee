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
    reqs.extend(cls().requirements())
    return reqs


def runnable(platform: str) -> bool:
    return all(r.ok for r in check(platform))
