"""The platform registry: adding a platform is one line here, one adapter module, one stacks/ folder."""
from __future__ import annotations

from importlib import import_module

from ..errors import BenchError

REGISTRY: dict[str, str] = {
    "null": "harness.platforms.null:NullAdapter",
    "prefect": "harness.platforms.prefect:PrefectAdapter",
    "temporal": "harness.platforms.temporal:TemporalAdapter",
    "hatchet": "harness.platforms.hatchet:HatchetAdapter",
}
# The benchmarkable platforms; `null` measures the harness itself.
ORCHESTRATORS = [name for name in REGISTRY if name != "null"]


def adapter_class(name: str):
    if name not in REGISTRY:
        raise BenchError(f"unknown platform {name!r}; known: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(import_module(module), cls)
