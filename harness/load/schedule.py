"""The open-loop schedule of one load step, fixed before the step starts, and its accounting.

Submission i of a step has the intended time t0 + i/rate, whatever happened to submission i-1
(YCSB's and OpenMessaging Benchmark's "intended time", which corrects coordinated omission: a
generator that stalls, or a platform that pushes back, shows up as lag and latency instead of as
fewer samples). Worker w of W owns the submissions i with i % W == w.

Standard library and pydantic only: the Locust worker processes import this module too, and the
driver's process must never import Locust or gevent.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A submission sent more than this after its intended time is "late" (counted, never dropped), and
# the generator keeps up with a step only while its send lag stays under it at p99.
LATE_NS = 1_000_000
LAG_P99_LIMIT_MS = 1.0
# Rounding slack when counting how many submissions fall inside a window (i/rate < seconds).
_EPS = 1e-9
ID_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
PLACEHOLDER = "{workflow_id}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Model):
    """What the platform's own client does with an answer that asks it to try again, mirrored by the
    load workers so that the generator is no less patient than the client a user would run. The
    first send stays the submission's send time, so the wait shows in every latency; the number of
    retries is recorded per submission."""

    statuses: frozenset[int]  # answers retried, e.g. 503 for "busy, try again"
    max_retries: int = Field(ge=1, le=10)
    backoff_s: float = Field(gt=0)  # the first retry waits this long, each next one twice as long
    jitter: float = Field(default=0.0, ge=0, lt=1)  # each wait x uniform(1 - jitter, 1 + jitter)
    # Also retry a request whose connection failed (reset, closed before the answer, refused): only
    # for a client that does so, and a target that makes a repeated submission harmless (idempotency).
    transport_errors: bool = False
    source: str  # the client behaviour mirrored, for the run record

    def delay_s(self, retry: int, unit: float = 0.5) -> float:
        """The wait before retry number `retry` (1-based); `unit` in [0, 1) draws the jitter."""
        return self.backoff_s * 2 ** (retry - 1) * (1 + self.jitter * (2 * unit - 1))

    def describe(self) -> str:
        codes = ", ".join(str(c) for c in sorted(self.statuses))
        what = f"HTTP {codes}{' and failed connections' if self.transport_errors else ''}"
        return (
            f"{what} retried up to {self.max_retries} times after {self.backoff_s:g} s, doubling"
            f"{f', jitter ±{self.jitter:.0%}' if self.jitter else ''} ({self.source})"
        )


class HttpTarget(_Model):
    """One HTTP call that starts one workflow run."""

    base_url: str  # http://127.0.0.1:PORT
    method: Literal["POST", "PUT"] = "POST"
    path: str  # may contain {workflow_id}
    headers: dict[str, str] = {}  # may hold a token: never on a command line, never in results
    body: Any = None  # JSON; every string in it has "{workflow_id}" substituted
    retry: RetryPolicy | None = None  # None: every answer is final, as most platforms' clients treat it

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        if not re.match(r"^http://[^/\s]+(:\d+)?/?$", v):
            raise ValueError(f"expected http://HOST:PORT, got {v!r}")
        return v.rstrip("/")

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"must start with '/', got {v!r}")
        return v


class Step(_Model):
    """One step of offered load: a constant rate, fixed in advance."""

    rate_per_s: float = Field(gt=0)
    duration_s: float = Field(gt=0)  # the measured part
    warmup_s: float = Field(default=0, ge=0)  # same rate, before the measured part, flagged warmup
    # Connections (and requests in flight) per worker process. When all are busy a submission waits
    # for one and is sent late: a target that answers slowly then shows in `late` and in lag.
    max_in_flight: int = Field(default=1000, ge=1)
    # How long after the last intended time the workers wait for outstanding acknowledgements;
    # whatever is still unanswered is recorded as an error, not dropped.
    drain_s: float = Field(default=10, gt=0)

    @property
    def warmup_count(self) -> int:
        return window_count(self.rate_per_s, self.warmup_s)

    @property
    def total_count(self) -> int:
        return window_count(self.rate_per_s, self.warmup_s + self.duration_s)

    @property
    def measured_count(self) -> int:
        return self.total_count - self.warmup_count


def window_count(rate_per_s: float, seconds: float) -> int:
    """How many i >= 0 have i/rate < seconds: the submissions intended inside [0, seconds)."""
    return max(0, math.ceil(rate_per_s * seconds - _EPS))


def intended_offset_ns(i: int, rate_per_s: float) -> int:
    """Nanoseconds from t0 to submission i's intended time."""
    return round(i * 1e9 / rate_per_s)


def worker_share(total: int, worker: int, workers: int) -> range:
    """The submissions worker `worker` of `workers` owns: i ≡ worker (mod workers)."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} outside 0..{workers - 1}")
    return range(worker, total, workers)


def workflow_id(prefix: str, i: int) -> str:
    return f"{prefix}-{i}"


def check_id_prefix(prefix: str) -> str:
    # Ids go into URL paths and JSON strings verbatim, so they must need no escaping in either.
    if not ID_PREFIX.match(prefix):
        raise ValueError(f"id prefix {prefix!r}: use letters, digits, '.', '_' or '-'")
    return prefix


class RequestTemplate:
    """The request of submission i, built without re-encoding JSON per submission."""

    def __init__(self, target: HttpTarget, prefix: str):
        self.prefix = check_id_prefix(prefix)
        self.method = target.method
        # The placeholder holds no character JSON escapes, so it survives encoding verbatim in
        # every string (keys included) and is replaced in the encoded text.
        self._path = target.path.split(PLACEHOLDER)
        body = None if target.body is None else json.dumps(target.body, separators=(",", ":"))
        self._body = None if body is None else body.split(PLACEHOLDER)
        self.headers = {**target.headers, **({"Content-Type": "application/json"} if body is not None else {})}

    def path(self, i: int) -> str:
        return workflow_id(self.prefix, i).join(self._path)

    def body(self, i: int) -> bytes:
        return b"" if self._body is None else workflow_id(self.prefix, i).join(self._body).encode()


def is_late(intended_ns: int, send_ns: int | None) -> bool:
    """Never sent counts as late, as does a send more than LATE_NS after the intended time."""
    return send_ns is None or send_ns - intended_ns > LATE_NS


def lag_ns(intended_ns: int, send_ns: int | None) -> int | None:
    return None if send_ns is None else send_ns - intended_ns
