"""The statistics a verdict rests on: a figure over independent runs with its 95% interval, counts
with their exact binomial interval, orderings by Mann-Whitney U, and the rule that decides.

A run is one stack lifecycle (its own install check, start, deploy and repetitions), so runs are
the independent samples; the repetitions inside one run share a stack and are not. Intervals are
percentile bootstraps over runs (the median is the statistic: robust to the one slow run a shared
machine produces) with a fixed seed, so the same results give the same verdict. A continuous
figure from fewer than MIN_RUNS runs decides nothing: the verdict is inconclusive and says how
many runs more would let it decide.
"""

from __future__ import annotations

import math
import operator
import statistics
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

MIN_RUNS = 5  # below this a bootstrap interval of a median is too coarse to stand for one
CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
RESAMPLES = 9999
SEED = 20261207  # the bootstrap's generator: a verdict never moves between two readings of one set
BOOTSTRAP = f"bootstrap over runs (percentile, {RESAMPLES:,} resamples, 95%)"
BINOMIAL = "exact binomial (Clopper-Pearson, 95%)"

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Estimate:
    """A statistic over n independent samples, with its 95% interval where n allows one."""

    n: int
    value: float
    interval: tuple[float, float] | None
    method: str


def median_over_runs(values: Sequence[float]) -> Estimate:
    """The median of one figure over runs, with the bootstrap interval of that median."""
    vals = [float(v) for v in values]
    med = statistics.median(vals)
    if len(vals) < 2:
        return Estimate(len(vals), med, None, "one run: no interval")
    return Estimate(len(vals), med, _bootstrap((np.asarray(vals),), _median), BOOTSTRAP)


def exact_over_runs(values: Sequence[float]) -> Estimate:
    """A count the stack fixes (its services): one run shows it; the interval is what the runs saw."""
    vals = [float(v) for v in values]
    return Estimate(len(vals), statistics.median(vals), (min(vals), max(vals)), "exact count: min-max over runs")


def ratio_over_runs(better: Sequence[float], worse: Sequence[float], lower_is_better: bool) -> Estimate:
    """How many times better the first set is (median against median), resampling each set of runs
    on its own (two independent groups)."""
    a, b = np.asarray(better, dtype=float), np.asarray(worse, dtype=float)

    def times(x, y, axis=-1):
        mx, my = np.median(x, axis=axis), np.median(y, axis=axis)
        return my / mx if lower_is_better else mx / my

    value = float(times(a, b))
    if min(len(a), len(b)) < 2:
        return Estimate(min(len(a), len(b)), value, None, "one run on a side: no interval")
    return Estimate(min(len(a), len(b)), value, _bootstrap((a, b), times), BOOTSTRAP)


def share(successes: int, trials: int) -> Estimate:
    """A proportion (experiments in which the claim held) with its exact binomial interval."""
    from scipy.stats import binomtest  # lazy: scipy takes seconds to import

    if trials == 0:
        return Estimate(0, math.nan, None, BINOMIAL)
    ci = binomtest(successes, trials).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return Estimate(trials, successes / trials, (float(ci.low), float(ci.high)), BINOMIAL)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value that a and b come from one distribution (1.0 when identical)."""
    from scipy.stats import mannwhitneyu  # lazy: scipy takes seconds to import

    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def side_of(interval: tuple[float, float], op: str, threshold: float) -> Literal["holds", "fails"] | None:
    """Whether the whole interval meets the claim (`value op threshold`), wholly misses it, or neither."""
    lo, hi = interval
    met = (OPS[op](lo, threshold), OPS[op](hi, threshold))
    if all(met):
        return "holds"
    if not any(met) and not (op == "==" and lo <= threshold <= hi):  # the other operators are monotone
        return "fails"
    return None


def runs_needed(n: int) -> int:
    """How many more runs a continuous figure needs before it can decide."""
    return max(0, MIN_RUNS - n)


def experiments_to_decide(held: int, trials: int, min_share: float, limit: int = 200) -> int | None:
    """The fewest further experiments that would decide, if each of them came out as the majority so
    far did (held, or not); None when no number up to `limit` would."""
    holding = held * 2 >= trials
    for more in range(0, limit + 1):
        k, n = held + (more if holding else 0), trials + more
        if n == 0:
            continue
        lo, hi = share(k, n).interval or (0.0, 1.0)
        if (holding and lo > min_share) or (not holding and hi < min_share):
            return more
    return None


def _median(x, axis=-1):
    return np.median(x, axis=axis)


def _bootstrap(samples: tuple[np.ndarray, ...], statistic) -> tuple[float, float]:
    from scipy.stats import bootstrap  # lazy: scipy takes seconds to import

    if all(np.all(s == s[0]) for s in samples):  # no spread at all: the interval is the value
        v = float(statistic(*samples))
        return v, v
    res = bootstrap(
        samples,
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(SEED),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
