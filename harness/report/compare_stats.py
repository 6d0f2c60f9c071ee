"""One figure of two result sets side by side (`Delta`) and the test of its difference: Mann-Whitney U on
the raw samples, benchstat's way ("~" when not significant). compare.py builds the deltas of a Comparison
from these."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel

from harness.analysis import stats

ALPHA = 0.05  # benchstat's default significance level
Family = Literal["latency", "critical_path", "throughput", "setup", "memory"]


class Delta(BaseModel):
    """One figure on both sides. `a`/`b` are the centre (p50 or median over runs); the test is on the
    samples behind them, so `p_value` is None where there are none to test (one run per side)."""

    family: Family
    metric: str
    unit: str
    a: float | None
    b: float | None
    a_tail: float | None = None  # p99, for latencies
    b_tail: float | None = None
    n_a: int
    n_b: int
    p_value: float | None = None
    higher_is_better: bool = False
    alpha: float = ALPHA

    @property
    def ratio(self) -> float | None:
        return self.b / self.a if self.a and self.b is not None else None

    @property
    def change_pct(self) -> float | None:
        return (self.ratio - 1) * 100 if self.ratio is not None else None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha and self.change_pct is not None

    @property
    def worse_pct(self) -> float | None:
        """How much worse B is than A, in %, where the difference is significant (negative: better)."""
        if not self.significant:
            return None
        assert self.change_pct is not None
        return -self.change_pct if self.higher_is_better else self.change_pct

    @property
    def delta_text(self) -> str:
        """benchstat's column: the change where significant, "~" where not, and why not when untested."""
        if self.a is None or self.b is None:
            return "missing"
        if self.p_value is None:
            return "untested"
        return f"{self.change_pct:+.1f}%" if self.significant else "~"


# -- significance ---------------------------------------------------------------------------------
def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided Mann-Whitney U p-value; None when a side has no sample. Identical constant samples
    cannot differ (scipy would divide by a zero variance), so they get p = 1."""
    if len(a) == 0 or len(b) == 0:
        return None
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    from scipy.stats import mannwhitneyu  # lazy: seconds to import, only when a test is made

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _clean(values) -> np.ndarray:
    arr = np.asarray([float(v) for v in values if v is not None], dtype="float64")
    return arr[~np.isnan(arr)]


def latency_delta(metric: str, a_ns, b_ns) -> Delta:
    """Percentiles from HdrHistogram, as the report gives them; the test on the raw samples. Negative
    samples (clock disagreement) are left out of both, as the report leaves them out."""
    a, b = _clean(a_ns), _clean(b_ns)
    a, b = a[a >= 0], b[b >= 0]
    sa, sb = stats.latency_summary(a.tolist()), stats.latency_summary(b.tolist())
    return Delta(
        family="latency",
        metric=metric,
        unit="ms",
        a=sa.p50_ms if sa else None,
        b=sb.p50_ms if sb else None,
        a_tail=sa.p99_ms if sa else None,
        b_tail=sb.p99_ms if sb else None,
        n_a=len(a),
        n_b=len(b),
        p_value=mann_whitney_p(a, b),
    )


def per_run_delta(family: Family, metric: str, unit: str, a_values, b_values, higher_is_better=False) -> Delta:
    """A figure with one value per repetition, run or workflow run: the median over them, the test on them."""
    a, b = _clean(a_values), _clean(b_values)
    sa, sb = stats.spread(a.tolist()), stats.spread(b.tolist())
    one_each = len(a) == 1 and len(b) == 1  # a rank test of one value against one says nothing: untested
    return Delta(
        family=family,
        metric=metric,
        unit=unit,
        a=sa.median if sa else None,
        b=sb.median if sb else None,
        n_a=len(a),
        n_b=len(b),
        p_value=None if one_each else mann_whitney_p(a, b),
        higher_is_better=higher_is_better,
    )
