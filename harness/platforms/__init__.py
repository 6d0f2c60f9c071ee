"""The adapters of the registered platforms (harness/model/registry.py reads stacks/*/platform.yaml;
each names its adapter as module:Class). The registry's functions are re-exported here for the
layers above the adapters, which ask for a platform and its adapter together."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from harness.model.errors import BenchError
from harness.model.registry import (METADATA_FILE, PlatformInfo, get, load_info, orchestrators, platforms,
                                    seed_platforms, shown_path, stacks_root)

if TYPE_CHECKING:
    from harness.platforms.base import Adapter

__all__ = ["METADATA_FILE", "PlatformInfo", "adapter_class", "get", "load_info", "orchestrators", "platforms",
           "seed_platforms", "stacks_root"]


def adapter_class(name: str, root: Path | None = None) -> type[Adapter]:
    info = get(name, root)
    module, cls = info.adapter.split(":")
    try:
        return getattr(import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise BenchError(f"{shown_path(info.stack_dir / METADATA_FILE)}: adapter: cannot import {info.adapter} "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None


def __getattr__(attr: str):  # ORCHESTRATORS is read from the stacks folder on every access
    if attr == "ORCHESTRATORS":
        return orchestrators()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
