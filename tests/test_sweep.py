"""Rate sweeps: the sweep's summary in the report, the sweep workloads' validation, and short real
sweeps (integration). The step analysis on synthetic steps: test_sweep_analysis.py. Submission
paths: test_sweep_targets.py."""

import pandas as pd
import pytest

from harness.analysis import load as analysis
from harness.model import spec
from harness.model.errors import BenchError
from harness.model.record import LoadResult
from harness.platforms.base import deployable

from .test_sweep_analysis import TH, step_input, synthetic


def test_sweep_workloads_validate_and_leave_the_standard_ones_alone():
    for name in ("rate-sweep-noop", "rate-sweep-fib20"):
        w = spec.load(name)
        assert w.shape == "sweep" and w.repetitions == 1 and w.sweep.thresholds.generator_lag_p99_ms == 1.0
        d = deployable(w)
        assert (d.shape, d.tasks, d.sweep, d.workers) == ("chain", 1, None, w.workers)
    assert spec.load("latency-probe").digest() == "f1b3443a621a3b03"  # the hash recorded before sweeps existed


@pytest.mark.parametrize(
    "sweep, needle",
    [
        ("{rates: [10, 5], step_s: 5, thresholds: {p99_ms: 100}}", "rates must increase"),
        ("{rates: [5], step_s: 5, warmup_s: 5, thresholds: {p99_ms: 100}}", "warmup_s must be shorter"),
        ("{rates: [5], step_s: 5, thresholds: {p99_ms: 100, p98_ms: 3}}", "unknown key 'sweep.thresholds.p98_ms'"),
        ("{rates: [5], step_s: 5}", "sweep.thresholds"),
        ("{rates: [0], step_s: 5, thresholds: {p99_ms: 100}}", "rates must be > 0"),
    ],
)
def test_bad_sweeps_are_refused_in_one_line(tmp_path, sweep, needle):
    path = tmp_path / "w.yaml"
    path.write_text(f"name: w\nshape: sweep\ntasks: 1\nsweep: {sweep}\n")
    with pytest.raises(BenchError, match=needle) as err:
        spec.load(str(path))
    assert "\n" not in str(err.value)


def test_a_sweep_block_belongs_to_a_sweep(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nshape: chain\ntasks: 1\nsweep: {rates: [5], step_s: 5, thresholds: {p99_ms: 9}}\n")
    with pytest.raises(BenchError, match="a chain workload takes no sweep block"):
        spec.load(str(path))
    path.write_text("name: w\nshape: sweep\ntasks: 1\n")
    with pytest.raises(BenchError, match="a sweep workload needs a sweep block"):
        spec.load(str(path))


def test_report_context_and_partial_state_the_sweep(tmp_path):
    """The report's view: the table row, what a claimed rate would need, the steps, the chart."""
    from types import SimpleNamespace

    import jinja2

    from harness.report.load import load_charts, load_report_context
    from tests.record_factory import make_record

    steps = []
    for i, (rate, cap) in enumerate(((10, None), (50, None), (100, 50))):
        sub, stamps = synthetic(rate, service_ms=5, capacity=cap)
        si = step_input(sub, stamps, rate)
        si.step, si.phase = i, f"step-{i + 1}"
        steps.append(
            analysis.analyze_step(si, TH).model_copy(
                update={
                    "cpu_ms_per_task": 2.5,
                    "generator_setup": "SCHED_FIFO 10; idle CPUs poll (PM QoS 0 us held while sending)",
                }
            )
        )
    load = LoadResult(
        load_workers=2,
        worker_processes=1,
        worker_slots=100,
        thresholds=TH.model_dump(),
        steps=steps,
        generator_ceiling_per_s=9000.0,
    )
    analysis.summarize(load)
    record = make_record("temporal", workload="rate-sweep-noop", kind="production", load=load)
    cells = {("temporal", "native postgres", "rate-sweep-noop"): SimpleNamespace(record=record)}
    ctx = load_report_context(cells)
    assert ctx["load_rows"][0]["mst"] == "50/s"
    assert "1,000 tasks/s at 2.50 CPU-ms per task needs at least 2.5 cores" in ctx["load_rows"][0]["needs"][0]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"), trim_blocks=True, lstrip_blocks=True
    )
    env.filters["f"] = lambda v, fmt=".1f": "–" if v is None else format(v, fmt)
    env.filters["cell"] = lambda v: " ".join(str(v or "").split()).replace("|", "\\|")
    text = env.get_template("load.md.j2").render(**ctx)
    assert "| temporal | native postgres | rate-sweep-noop | **50/s** | 2.50 |" in text
    assert ctx["load_rows"][0]["memory_growth_of"] == "RSS"  # the synthetic steps have no samples
    assert "saturated at 100/s" in text and text.count("| step-") == 3
    assert "ran with SCHED_FIFO 10; idle CPUs poll" in text and "also wake without a halted vCPU" in text
    assert "These projections assume: CPU per task of each service stays" in text  # printed once, below the rows
    assert [c["file"] for c in load_charts(cells, tmp_path)] == ["load-rate-sweep-noop.png"]
    assert (tmp_path / "load-rate-sweep-noop.png").stat().st_size > 1000


# -- integration: real Locust processes, real platforms -------------------------------------------
def short_sweep(
    rates,
    *,
    op="noop",
    n=0,
    step_s=5.0,
    warmup_s=1.0,
    load_workers=1,
    drain_s=90.0,
    p99_ms=60_000.0,
    slots=100,
    generator_lag_p99_ms=100.0,
) -> spec.Workload:
    """A sweep small enough for a test. The thresholds are loose on purpose: on a shared 2-core
    machine these tests check the mechanics (every task once, every figure filled), not figures."""
    return spec.Workload.model_validate(
        {
            "name": "sweep-test",
            "shape": "sweep",
            "tasks": 1,
            "task": {"op": op, "n": n},
            "warmup": 0,
            "timeout_s": 60,
            "workers": {"processes": 1, "slots": slots},
            "sweep": {
                "rates": rates,
                "step_s": step_s,
                "warmup_s": warmup_s,
                "drain_s": drain_s,
                "load_workers": load_workers,
                "engine_sample": 5,
                "measure_ceiling": False,
                "thresholds": {
                    "p99_ms": p99_ms,
                    "keep_up": 0.8,
                    "backlog_growth": 0.25,
                    "generator_lag_p99_ms": generator_lag_p99_ms,
                },
            },
        }
    )


def run_sweep_on(platform: str, wl: spec.Workload, tmp_path, variant: str | None = None):
    from harness.model.record import load_record
    from harness.run.driver import RunOptions, run
    from tests.conftest import require_runnable

    if platform != "null":
        require_runnable(platform)
    path = run(RunOptions(platform, wl, results_root=tmp_path, variant=variant))
    return path, load_record(path / "run.json")


# platform: (rates, step_s, load_workers, variant). Prefect starts a Python process per flow run, seconds
# of CPU each on the 2-core machine, and Airflow a task process per task: their rates are lower. Airflow
# runs on PostgreSQL, as its sweeps do: on SQLite its DAG processor can die of "database is locked" under load.
SHORT = {
    "null": ([3, 6], 5.0, 2, None),
    "prefect": ([0.5, 1], 8.0, 1, None),
    "temporal-dev": ([3, 6], 5.0, 1, None),
    "temporal": ([3, 6], 5.0, 1, None),
    "hatchet": ([3, 6], 5.0, 1, None),
    "airflow": ([0.5, 1], 8.0, 1, "postgres"),
}


@pytest.mark.integration
@pytest.mark.parametrize("platform", list(SHORT))
def test_a_short_sweep_runs_every_task_exactly_once(platform, tmp_path):
    from harness.load.schedule import window_count

    rates, step_s, load_workers, variant = SHORT[platform]
    path, record = run_sweep_on(
        platform, short_sweep(rates, step_s=step_s, load_workers=load_workers), tmp_path, variant
    )
    assert record.status == "complete", record.error
    steps = record.load.steps
    assert steps and record.load.load_workers == load_workers
    for s in steps:
        assert s.verdict in ("ok", "saturated"), (s.phase, s.reasons)  # never failed, never the generator's
        assert s.submissions == window_count(s.rate_per_s, step_s) and s.errors == 0
        assert s.generator_workers == load_workers and s.generator_setup  # how the workers ran, recorded
        assert s.tasks_completed == s.tasks_expected == s.submissions and s.missing == s.duplicates == 0
        measured = s.submissions - window_count(s.rate_per_s, 1.0)
        assert s.latency_ms["intended_to_start"].count == measured
        assert s.engine_sampled == min(5, measured), s.engine_error
        assert s.latency_ms["engine_queue_to_start"] is not None
        assert s.backlog and s.services
        if platform != "null":  # null runs inside the harness: no platform service to charge
            assert s.platform_cpu_s > 0 and (s.cpu_ms_per_task or 0) > 0 if s.tasks_in_steady else s.platform_cpu_s > 0
    if all(s.verdict == "ok" for s in steps):
        assert len(steps) == 2 and record.load.max_sustainable_per_s == rates[-1]
        assert record.load.max_sustainable_is_lower_bound
    submissions = pd.read_parquet(path / "load_submissions.parquet")
    assert len(submissions) == sum(s.submissions for s in steps)


@pytest.mark.integration
def test_a_rate_far_above_one_workers_capacity_is_detected_as_saturation(tmp_path):
    """fib(27) keeps the null platform's dispatcher well below the 200/s offered on any host seen here
    (fib(24), 4x less work, stopped saturating it on 2026-12-07, when the host ran about 2x faster).
    The sweep must stop at that step, call it saturated, and say why."""
    wl = short_sweep([200], op="fib", n=27, step_s=5, drain_s=3)
    _, record = run_sweep_on("null", wl, tmp_path)
    (step,) = record.load.steps
    assert step.verdict == "saturated", step.reasons
    assert any("backlog grew" in r for r in step.reasons) and any("achieved" in r for r in step.reasons)
    assert record.load.saturated_at_per_s == 200 and record.load.max_sustainable_per_s is None
    assert record.status == "complete"  # a saturated step is a finding, not a failed run
