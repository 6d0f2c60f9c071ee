"""Statistics over raw samples: HdrHistogram percentiles, resource summaries, spread checks."""

from __future__ import annotations

import math
from typing import Iterable

from hdrh.histogram import HdrHistogram

from harness.model.record import LatencySummary, Spread

LOWEST_US, HIGHEST_US, DIGITS = 1, 24 * 3600 * 1_000_000, 3
PERCENTILES = (50, 90, 99)
# pyperf's rule of thumb: a coefficient of variation above this makes a comparison unreliable.
UNSTABLE_CV = 0.10


def latency_summary(values_ns: Iterable[float | None]) -> LatencySummary | None:
    """p50/p90/p99/max in milliseconds. Values below 1 µs are recorded as 1 µs; negative ones
    (clock disagreement between engine and host) are counted separately and not recorded."""
    hist = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
    count = negatives = 0
    for v in values_ns:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if v < 0:
            negatives += 1
            continue
        hist.record_value(min(max(int(round(v / 1000)), LOWEST_US), HIGHEST_US))
        count += 1
    if count == 0:
        return None
    percentiles = {f"p{p}_ms": hist.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    return LatencySummary(
        **percentiles,
        min_ms=hist.get_min_value() / 1000,
        max_ms=hist.get_max_value() / 1000,
        count=count,
        negatives=negatives,
    )


def spread(values: Iterable[float | None]) -> Spread | None:
    """Across repetitions: median, min, max and coefficient of variation, flagged when too wide."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return None
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    cv = sd / mean if mean else 0.0
    median = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    return Spread(median=median, min=vals[0], max=vals[-1], cv=cv, n=n, unstable=n > 1 and cv > UNSTABLE_CV)
