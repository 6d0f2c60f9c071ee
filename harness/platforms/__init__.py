"""The adapters of the registered platforms (harness/model/registry.py reads stacks/*/platform.yaml;
each names its adapter as module:Class). The registry's functions are re-exported here for the
layers above the adapters, which ask for a platform and its adapter together."""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import TYPE_CHECKING

from harness.model.errors import BenchError
from harness.model.registry import (
    METADATA_FILE,
    PlatformInfo,
    get,
    load_info,
    orchestrators,
    platforms,
    seed_platforms,
    shown_path,
    stacks_root,
)

if TYPE_CHECKING:
    from pathlib import Path

    from harness.platforms.base import Adapter

__all__ = [
    "METADATA_FILE",
    "PlatformInfo",
    "adapter_class",
    "get",
    "load_info",
    "orchestrators",
    "platforms",
    "seed_platforms",
    "stacks_root",
]


def adapter_class(name: str, root: Path | None = None) -> type[Adapter]:
    """The platform's adapter class (its platform.yaml's `adapter:`), with `name` set to the platform's."""
    info = get(name, root)
    module, cls = info.adapter.split(":")
    try:
        found = getattr(import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise BenchError(
            f"{shown_path(info.stack_dir / METADATA_FILE)}: adapter: cannot import {info.adapter} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    return _named(found, name)


@lru_cache(maxsize=None)
def _named(cls: type[Adapter], name: str) -> type[Adapter]:
    """cls under the registry's name: a subclass that sets only `name`, since one class may stand for
    several platforms (a test's, or `make chaos`'s never-ready, is NullAdapter). Cached: the same class
    for the same platform, so class attributes and identity hold across calls."""
    if cls.__dict__.get("name") == name:
        return cls
    return type(cls)(
        cls.__name__,
        (cls,),
        {"name": name, "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__},
    )


def __getattr__(attr: str):  # ORCHESTRATORS is read from the stacks folder on every access
    if attr == "ORCHESTRATORS":
        return orchestrators()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
