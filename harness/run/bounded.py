"""Every call the session makes into an adapter, bounded in time.

A platform that accepts connections and never answers would otherwise hold a run forever inside an
SDK or HTTP call. Each call gets the workload's timeout (wait() a little more, since it enforces the
timeout itself), and running past it ends the run with one line naming the platform and the step.
"""

from __future__ import annotations

from typing import Any

from harness.platforms.base import Adapter
from harness.run.guards import deadline

WAIT_GRACE_S = 30.0  # wait() raises TimeoutError itself at the timeout; this only catches a hung wait
BOUNDED = ("connect", "deploy", "submit", "wait", "records", "versions")


class BoundedAdapter:
    """Delegates to the adapter; the calls in BOUNDED run under a deadline."""

    def __init__(self, adapter: Adapter, platform: str, timeout_s: float):
        self._adapter, self._platform, self._timeout_s = adapter, platform, timeout_s

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._adapter, name)
        if name not in BOUNDED:
            return value
        limit = self._timeout_s + (WAIT_GRACE_S if name == "wait" else 0)

        def bounded(*args, **kwargs):
            with deadline(limit, f"{self._platform}: {name}()"):
                return value(*args, **kwargs)

        return bounded
