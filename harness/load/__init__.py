"""Open-loop load generation with Locust (issue 8).

The driver's side (`run_step`, `measure_ceiling`, the models) never imports Locust or gevent:
Locust patches the standard library at import, which breaks the asyncio SDKs, so Locust runs only
in the master and worker processes `run_step` starts (`harness/load/locustfile.py`).
Attributes load lazily, so a Locust worker importing `harness.load.schedule` pulls in nothing else.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "HttpTarget": "schedule",
    "Step": "schedule",
    "LAG_P99_LIMIT_MS": "schedule",
    "StepResult": "generator",
    "run_step": "generator",
    "Ceiling": "ceiling",
    "measure_ceiling": "ceiling",
    "NullServer": "null_server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.load' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
