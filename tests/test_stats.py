import pytest

from harness.analysis import stats
from harness.model.record import LatencySummary, Spread


def test_percentiles_of_a_known_distribution():
    values_ns = [ms * 1_000_000 for ms in range(1, 1001)]  # 1..1000 ms
    s = stats.latency_summary(values_ns)
    assert isinstance(s, LatencySummary)
    assert s.count == 1000
    assert s.p50_ms == pytest.approx(500, rel=0.002)
    assert s.p90_ms == pytest.approx(900, rel=0.002)
    assert s.p99_ms == pytest.approx(990, rel=0.002)
    assert s.max_ms == pytest.approx(1000, rel=0.002)
    assert s.min_ms == pytest.approx(1, rel=0.002)


def test_sub_microsecond_and_negative_values():
    s = stats.latency_summary([200, 500, -3_000, 2_000_000])
    assert s.count == 3 and s.negatives == 1
    assert s.min_ms == pytest.approx(0.001)  # recorded at the 1 µs floor


def test_empty_is_none():
    assert stats.latency_summary([]) is None
    assert stats.latency_summary([float("nan"), None]) is None
    assert stats.spread([None]) is None
    assert stats.spread([float("nan")]) is None


def test_spread_flags_unstable_results():
    steady = stats.spread([100, 101, 99, 100, 100])
    noisy = stats.spread([100, 150, 60, 120, 80])
    assert isinstance(steady, Spread)
    assert steady.median == 100 and not steady.unstable
    assert noisy.unstable and noisy.cv > stats.UNSTABLE_CV
    assert noisy.min == 60 and noisy.max == 150 and noisy.n == 5
    assert stats.spread([5]).unstable is False


def test_spread_median_of_an_even_count():
    assert stats.spread([1, 2, 3, 10]).median == 2.5
