"""The platform registry: adding a platform is one line here, one adapter module, one stacks/ folder."""
from __future__ import annotations

from importlib import import_module

from ..errors import BenchError

REGISTRY: dict[str, str] = {
    "null": "harness.platforms.null:NullAdapter",
    "prefect": "harness.platforms.prefect:PrefectAdapter",
    "temporal": "harness.platforms.temporal:TemporalAdapter",
    "temporal-dev": "harness.platforms.temporal:TemporalDevAdapter",
    "hatchet": "harness.platforms.hatchet:HatchetAdapter",
    "windmill": "harness.platforms.windmill:WindmillAdapter",
    "kestra": "harness.platforms.kestra:KestraAdapter",
}
# Platforms of the seed document that have no native stack, and why (bench doctor, bench list, report).
NOT_NATIVE: dict[str, str] = {
    "kestra": "its distribution jar (Maven io.kestra:kestra, also io.kestra:webserver and io.kestra:jdbc-postgres) "
              "is not served by the Maven registry this machine reaches: `mvn dependency:get` finds no version",
    "windmill": "its server is published only as a container image: it needs the compose backend and a Docker engine",
}
# The benchmarkable platforms; `null` measures the harness itself.
ORCHESTRATORS = [name for name in REGISTRY if name != "null"]


def adapter_class(name: str):
    if name not in REGISTRY:
        raise BenchError(f"unknown platform {name!r}; known: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(import_module(module), cls)
