"""The statistics verdicts rest on: intervals that do not move between readings, exact binomial
bounds, the rule that decides, and how many more runs or experiments would decide."""

import pytest

from harness.claims import stats


def test_the_median_over_runs_has_a_bootstrap_interval_that_is_the_same_at_every_reading():
    values = [10.0, 11.0, 12.0, 13.0, 30.0]
    a, b = stats.median_over_runs(values), stats.median_over_runs(list(values))
    assert a == b and a.value == 12.0 and a.n == 5
    lo, hi = a.interval
    assert lo <= 12.0 <= hi and lo >= 10.0 and hi <= 30.0


def test_one_run_has_no_interval_and_identical_runs_have_a_point_interval():
    assert stats.median_over_runs([5.0]).interval is None
    assert stats.median_over_runs([5.0] * 5).interval == (5.0, 5.0)


def test_the_exact_binomial_interval_matches_clopper_pearson():
    none_of_six = stats.share(0, 6)
    assert none_of_six.interval[0] == 0.0 and none_of_six.interval[1] == pytest.approx(1 - 0.025 ** (1 / 6), abs=1e-9)
    all_of_six = stats.share(6, 6)
    assert all_of_six.interval[0] == pytest.approx(0.025 ** (1 / 6), abs=1e-9) and all_of_six.interval[1] == 1.0


@pytest.mark.parametrize(
    "interval,op,threshold,expected",
    [
        ((0.2, 0.8), "<", 1.0, "holds"),
        ((1.2, 3.0), "<", 1.0, "fails"),
        ((0.5, 2.0), "<", 1.0, None),
        ((1.0, 2.0), "<", 1.0, "fails"),  # the whole interval is at or above the line
        ((0.0, 0.0), "==", 0.0, "holds"),
        ((-1.0, 1.0), "==", 0.0, None),
        ((2.0, 3.0), ">=", 1.5, "holds"),
    ],
)
def test_a_claim_is_decided_only_when_the_whole_interval_is_on_one_side(interval, op, threshold, expected):
    assert stats.side_of(interval, op, threshold) == expected


def test_how_many_more_runs_and_experiments_would_decide():
    assert stats.runs_needed(1) == 4 and stats.runs_needed(5) == 0
    # all of 2 held: 4 more that hold make 6 of 6, whose lower bound (0.54) is above one half
    assert stats.experiments_to_decide(2, 2, 0.5) == 4
    assert stats.experiments_to_decide(0, 6, 0.5) == 0  # already below: decided


def test_mann_whitney_separates_clearly_different_runs_and_not_identical_ones():
    assert stats.mann_whitney_p([1, 2, 3, 4, 5], [10, 11, 12, 13, 14]) < stats.ALPHA
    assert stats.mann_whitney_p([1, 1, 1, 1, 1], [1, 1, 1, 1, 1]) == 1.0


def test_a_ratio_of_medians_over_two_sets_of_runs():
    est = stats.ratio_over_runs([1.0, 1.1, 0.9, 1.0, 1.0], [10.0, 11.0, 9.0, 10.0, 10.0], lower_is_better=True)
    assert est.value == pytest.approx(10.0) and est.interval[0] > 5 and est.n == 5
