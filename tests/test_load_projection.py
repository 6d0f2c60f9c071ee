"""Sweeps read at matched conditions (harness/analysis/load_projection.py): the rates a sweep sustained,
the highest rate several sweeps all sustained, and the cores a target rate would need."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.analysis.load_projection import (
    common_rate,
    highest_sustained,
    project,
    project_sweep,
    step_at,
    sustained_steps,
)
from harness.model.paths import REPO_ROOT
from harness.model.record import load_record

from .load_factory import rates, step, sweep


def test_sustained_steps_stop_at_the_first_that_did_not_keep_up_and_skip_warmups():
    load = sweep(
        step(0.5, 200, warmup=True),
        step(1, 150, i=1),
        step(10, 90, i=2),
        step(25, 80, verdict="saturated", i=3),
        step(50, 40, i=4),  # ok again after a saturated step: not sustained (the sweep's own rule)
    )
    assert [s.rate_per_s for s in sustained_steps(load)] == [1, 10]
    assert highest_sustained(load).rate_per_s == load.max_sustainable_per_s == 10
    assert step_at(load, 10).cpu_ms_per_task == 90 and step_at(load, 50) is None and step_at(load, 0.5) is None


def test_common_rate_is_the_highest_every_sweep_sustained():
    fast = rates({1: 100, 10: 90, 50: 40}, saturated_at=100)
    slow = rates({1: 100, 10: 95}, saturated_at=25)
    assert common_rate([fast, slow]) == 10 and common_rate([fast]) == 50
    assert common_rate([fast, rates({2: 1, 20: 1})]) is None  # no rate in common
    assert common_rate([fast, rates({}, saturated_at=1)]) is None  # one sustained nothing
    assert common_rate([]) is None


def test_projection_sums_the_platform_services_and_leaves_the_harness_out():
    got = project(step(50, {"postgres": 16.0, "engine": 9.0, "worker": 5.0}))
    assert got.cores == pytest.approx(30.0) and got.cpu_ms_per_task == pytest.approx(30.0)
    assert got.measured_at_per_s == 50 and got.tasks == 1500
    assert got.breakdown() == "postgres 16.0, engine 9.0, worker 5.0 cores"
    assert "1,000 tasks/s x 30.0 CPU-ms per task measured at 50 runs/s" in got.describe()
    assert project(step(50, {"server": 10.0}), target_per_s=5000).cores == pytest.approx(50.0)
    assert project_sweep(rates({1: 300, 10: 120, 50: 36}, saturated_at=100)).cores == pytest.approx(36.0)
    assert project_sweep(rates({}, saturated_at=0.5)) is None  # nothing sustained: nothing to project from
    assert project(step(0, 10.0)) is None  # no tasks


costs = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.floats(0, 1e4), min_size=1)


@given(costs, st.floats(0.1, 500), st.floats(1, 1e5))
def test_projection_is_linear_in_the_target_and_is_cpu_per_task_times_rate(cpu, rate, target):
    one = project(step(rate, cpu), target_per_s=target)
    if one is None:  # a rate so low the steady part held no task
        assert int(rate * 30) == 0
        return
    twice = project(step(rate, cpu), target_per_s=2 * target)
    assert twice.cores == pytest.approx(2 * one.cores)
    assert one.cores == pytest.approx(one.cpu_ms_per_task * target / 1000) and one.cores >= 0
    assert one.cpu_ms_per_task == pytest.approx(sum(cpu.values()), rel=1e-9, abs=1e-9)


@given(st.lists(st.sets(st.sampled_from([0.5, 1, 2, 5, 10, 25, 50, 100]), min_size=1), min_size=1, max_size=4))
def test_the_common_rate_is_sustained_by_every_sweep_and_none_higher_is(rate_sets):
    loads = [rates({r: 10.0 for r in rs}) for rs in rate_sets]
    got = common_rate(loads)
    shared = set.intersection(*map(set, rate_sets))
    assert got == (max(shared) if shared else None)
    if got is not None:
        assert all(step_at(load, got) is not None for load in loads)


SWEEPS = sorted(REPO_ROOT.glob("results/*/*rate-sweep*/run.json"))


@pytest.mark.skipif(not SWEEPS, reason="no committed sweeps")
@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: str(Path(p).relative_to(REPO_ROOT / "results")))
def test_committed_sweeps_project_what_their_own_cpu_per_task_says(path):
    """The projection from the highest sustained step equals the sweep's own CPU per task x 1,000/s."""
    load = load_record(path).load
    got = project_sweep(load)
    if load.cpu_ms_per_task is None:
        assert got is None or highest_sustained(load).cpu_ms_per_task is None
        return
    assert got.measured_at_per_s == load.max_sustainable_per_s
    assert got.cores == pytest.approx(load.cpu_ms_per_task, rel=1e-6)  # 1,000 tasks/s: cores = CPU-ms per task
