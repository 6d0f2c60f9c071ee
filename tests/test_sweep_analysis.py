"""Rate sweeps, the step analysis on synthetic steps: a healthy step, a saturating one, one limited by
the generator, lost and duplicated tasks, CPU and memory per task, and the sweep's summary. The
sweep's report, its workloads' validation and short real sweeps: test_sweep.py."""

import pandas as pd
import pytest

from harness.analysis import load as analysis
from harness.model import spec
from harness.model.record import LoadResult

T0 = 1_800_000_000 * 10**9
MS = 1_000_000
TH = spec.SaturationThresholds(p99_ms=1000)


def generator_row(seq, intended, send, *, warmup, failed=False, unsent=False):
    """One submission as the generator records it; an unsent one has no send, no ack, an error text."""
    if unsent:
        status, error = 0, "not sent: the step ended first"
    else:
        status, error = (500, "HTTP 500") if failed else (200, None)
    return {
        "seq": seq,
        "worker": 0,
        "workflow_id": f"p-{seq}",
        "warmup": warmup,
        "intended_ns": intended,
        "send_ns": send,
        "ack_ns": None if send is None else send + MS,
        "http_status": status,
        "error": error,
    }


def run_stamps(wf, start, tasks):
    """The stamps of one run's tasks, all starting at about `start`, each 1 ms long."""
    return [
        {"workflow_id": wf, "index": k, "body_start_ns": start + k, "body_end_ns": start + k + MS, "pid": 1}
        for k in range(tasks)
    ]


def synthetic(
    rate,
    duration_s=10.0,
    warmup_s=2.0,
    *,
    service_ms=0.0,
    capacity=None,
    lag_ms=0.05,
    errors=(),
    lose=(),
    duplicate=(),
    unsent=(),
    tasks=1,
    send_rate=None,
):
    """A step's generator records and stamps. The platform starts a run `service_ms` after its send,
    one at a time at most `capacity` per second (None: unlimited). send_rate: a generator that can
    only send this many per second (falling further behind its schedule), else `lag_ms` late each."""
    n = int(rate * (duration_s + warmup_s))
    rows, stamps, free_at = [], [], 0
    for i in range(n):
        intended = T0 + round(i * 1e9 / rate)
        send = (T0 + round(i * 1e9 / send_rate) if send_rate else intended) + int(lag_ms * MS)
        failed = i in errors
        if i in unsent:
            rows.append(generator_row(i, intended, None, warmup=False, unsent=True))
            continue
        rows.append(generator_row(i, intended, send, warmup=intended < T0 + warmup_s * 1e9, failed=failed))
        if failed or i in lose:
            continue
        start = send + int(service_ms * MS)
        if capacity:
            start = max(start, free_at)
            free_at = start + int(1e9 / capacity)
        stamps += run_stamps(f"p-{i}", start, tasks)
        if i in duplicate:
            stamps.append(dict(stamps[-1]))
    return pd.DataFrame(rows).astype({"send_ns": "Int64", "ack_ns": "Int64"}), stamps


def step_input(sub, stamps, rate, duration_s=12.0, warmup_s=2.0, resources=None, tasks=1):
    last = max([s["body_start_ns"] for s in stamps] + [T0])
    return analysis.StepInput(
        step=0,
        phase="step-1",
        warmup=False,
        rate_per_s=rate,
        duration_s=duration_s,
        warmup_s=warmup_s,
        start_ns=T0,
        submissions=sub,
        stamps=stamps,
        tasks_per_run=tasks,
        drain_end_ns=last + MS,
        resources=resources if resources is not None else pd.DataFrame(),
    )


def test_a_healthy_step_keeps_up():
    sub, stamps = synthetic(100, service_ms=5)
    step = analysis.analyze_step(step_input(sub, stamps, 100), TH)
    assert step.verdict == "ok", step.reasons
    assert step.achieved_per_s == pytest.approx(100, rel=0.02)
    lat = step.latency_ms["intended_to_start"]
    assert 5 <= lat.p50_ms <= 5.2 and lat.p99_ms <= 5.2
    assert lat.count == 1000  # the measured part only (10 s at 100/s), warmup excluded
    assert step.missing == step.duplicates == step.errors == 0
    assert step.generator_lag_p99_ms < 1 and not step.generator_limited
    assert abs(step.backlog_slope_per_s) < 1


def test_a_saturating_step_is_detected_as_saturation():
    """Offered 100/s to a platform that starts 50/s: backlog grows, latency climbs past the threshold."""
    sub, stamps = synthetic(100, service_ms=5, capacity=50)
    step = analysis.analyze_step(step_input(sub, stamps, 100), TH)
    assert step.verdict == "saturated"
    text = " ".join(step.reasons)
    assert "backlog grew" in text and "achieved" in text and "p99 scheduling latency" in text
    assert step.backlog_slope_per_s == pytest.approx(50, rel=0.15)
    assert step.achieved_per_s == pytest.approx(50, rel=0.05)
    # corrected for coordinated omission: the latency from the intended time is the one that grows
    assert step.latency_ms["intended_to_start"].max_ms > 5000


def test_a_lagging_generator_is_flagged_and_a_platform_that_kept_up_with_the_lag_counted_is_ok():
    """4 ms late on every send (past the 1 ms limit), a platform that starts each run 5 ms after it:
    latency from the intended time includes the lag and is still within every threshold."""
    sub, stamps = synthetic(100, service_ms=5, lag_ms=4)
    step = analysis.analyze_step(step_input(sub, stamps, 100), TH)
    assert step.generator_limited and step.verdict == "ok", step.reasons
    assert step.generator_late == int((~sub["warmup"]).sum()) and step.generator_unsent == 0
    assert step.latency_ms["intended_to_start"].p50_ms >= 9


def test_a_generator_limited_step_is_not_blamed_on_the_platform():
    """The lag pushes p99 from the intended time past the threshold; from the sends all is well."""
    sub, stamps = synthetic(100, service_ms=5, lag_ms=1200)
    step = analysis.analyze_step(step_input(sub, stamps, 100), TH)
    assert step.verdict == "generator-limited", step.reasons
    assert "the generator, not the platform" in step.reasons[0] and "p99 scheduling latency" in step.reasons[1]
    result = LoadResult(load_workers=1, worker_processes=None, worker_slots=None, thresholds={}, steps=[step])
    analysis.summarize(result)
    assert result.saturated_at_per_s is None and result.max_sustainable_is_lower_bound


def test_a_lagging_generator_does_not_hide_a_platform_that_saturates_from_what_was_sent():
    """4 ms of lag on every send cannot explain a backlog of sent runs growing 50/s: saturated,
    and the step still records that the generator lagged."""
    sub, stamps = synthetic(100, service_ms=5, capacity=50, lag_ms=4)
    step = analysis.analyze_step(step_input(sub, stamps, 100), TH)
    assert step.generator_limited and step.verdict == "saturated", step.reasons
    assert any("backlog" in r for r in step.reasons) and "cannot explain" in step.reasons[-1]


def test_a_generator_that_falls_behind_is_blamed_for_what_its_lag_explains():
    """Offered 100/s, sent 60/s, every sent run started 5 ms later: latency from the intended time
    and the achieved rate look saturated, but measured from the sends nothing is."""
    sub, stamps = synthetic(100, service_ms=5, send_rate=60)
    si = step_input(sub, stamps, 100)
    window = sub["send_ns"].between(T0 + 2 * 10**9, T0 + 12 * 10**9 - 1)
    si.sent_per_s = int(window.sum()) / 10
    step = analysis.analyze_step(si, TH)
    assert step.verdict == "generator-limited", step.reasons
    assert step.latency_ms["intended_to_start"].p99_ms > TH.p99_ms and step.achieved_per_s < 95
    assert any("achieved" in r for r in step.reasons[1:])  # listed, not blamed


def test_a_window_one_run_short_at_a_low_rate_is_its_edge_not_saturation():
    """0.5/s over a 30 s window is 15 runs: 14 counted is the window's edge (achieved 93%), 13 is not."""
    sub, stamps = synthetic(0.5, duration_s=30, warmup_s=10, service_ms=5)
    step = analysis.analyze_step(step_input(sub, stamps, 0.5, duration_s=40, warmup_s=10), TH)
    assert step.verdict == "ok", step.reasons
    assert not analysis.saturation_reasons(step.model_copy(update={"achieved_per_s": 14 / 30}), TH)
    assert analysis.saturation_reasons(step.model_copy(update={"achieved_per_s": 13 / 30}), TH)


def test_a_lost_task_fails_the_step_and_a_duplicate_too():
    sub, stamps = synthetic(50, service_ms=5, lose={30})
    step = analysis.analyze_step(step_input(sub, stamps, 50), TH)
    assert (step.verdict, step.missing, step.not_started) == ("failed", 1, 1)
    sub, stamps = synthetic(50, service_ms=5, duplicate={31})
    step = analysis.analyze_step(step_input(sub, stamps, 50), TH)
    assert (step.verdict, step.duplicates) == ("failed", 1)


def test_errors_saturate_and_are_sampled():
    sub, stamps = synthetic(50, service_ms=5, errors={200, 201})
    step = analysis.analyze_step(step_input(sub, stamps, 50), TH)
    assert step.verdict == "saturated" and step.errors == 2 and step.error_samples == ["HTTP 500"]
    assert step.tasks_expected == len(sub) - 2 and step.missing == 0


def test_unsent_submissions_are_the_generators_not_lost_tasks():
    sub, stamps = synthetic(50, service_ms=5, unsent={400, 401, 402})
    step = analysis.analyze_step(step_input(sub, stamps, 50), TH)
    assert (step.generator_late, step.errors, step.missing) == (3, 0, 0)
    assert step.verdict == "generator-limited"


def test_lag_from_back_pressure_is_the_platforms():
    """All the generator's connections waiting on slow acknowledgements: the platform pushed back."""
    sub, stamps = synthetic(100, service_ms=5, lag_ms=4)
    sub["ack_ns"] = sub["send_ns"] + 2_000 * MS  # 2 s to acknowledge: 200 in flight at 100/s
    si = step_input(sub, stamps, 100)
    si.in_flight_limit = 150
    step = analysis.analyze_step(si, TH)
    assert step.back_pressure and not step.generator_limited and step.verdict == "saturated"
    si.in_flight_limit = 1000  # the lag is the generator's again, and the platform kept up with it counted
    step = analysis.analyze_step(si, TH)
    assert step.generator_limited and step.verdict == "ok"


def test_cpu_per_task_counts_platform_services_only_over_the_steady_part():
    sub, stamps = synthetic(100, service_ms=5)
    rows = []
    for k in range(0, 61):  # 5 Hz over 12 s
        t = T0 + k * 200 * MS
        for service, role, pct in (
            ("server", "server", 50.0),
            ("worker", "worker", 30.0),
            ("harness", "harness", 100.0),
        ):
            rows.append({"t_ns": t, "service": service, "role": role, "cpu_pct": pct, "rss_bytes": (100 + k) * 2**20})
    step = analysis.analyze_step(step_input(sub, stamps, 100, resources=pd.DataFrame(rows)), TH)
    assert step.platform_cpu_s == pytest.approx(0.8 * 10, rel=0.01)
    assert step.cpu_ms_per_task == pytest.approx(8.0, rel=0.03)  # 0.8 cores / 100 tasks per s
    assert step.memory_growth_mb == pytest.approx(2 * 60) and step.memory_growth_of == "rss"
    harness = next(s for s in step.services if s.service == "harness")
    assert not harness.platform and harness.cpu_mean_pct == pytest.approx(100)


def test_memory_growth_is_pss_where_every_platform_service_has_it():
    """A database whose 10 processes all touch the same new shared pages: RSS counts them ten times,
    PSS (the pages split between the processes sharing them) once."""
    sub, stamps = synthetic(100, service_ms=5)
    rows = [
        {
            "t_ns": T0 + k * 200 * MS,
            "service": "postgres",
            "role": "database",
            "cpu_pct": 10.0,
            "rss_bytes": (500 + 10 * 10 * k) * 2**20,
            "pss_bytes": (500 + 10 * k) * 2**20,
        }
        for k in range(61)
    ]
    step = analysis.analyze_step(step_input(sub, stamps, 100, resources=pd.DataFrame(rows)), TH)
    assert (step.memory_growth_mb, step.memory_growth_of) == (pytest.approx(600), "pss")
    rows[0]["pss_bytes"] = 0  # unreadable at the first sample: the first readable one counts
    step = analysis.analyze_step(step_input(sub, stamps, 100, resources=pd.DataFrame(rows)), TH)
    assert step.memory_growth_of == "pss" and step.services[0].pss_start_mb == 510


def test_summary_takes_the_highest_step_below_the_first_that_failed():
    steps = []
    for i, (rate, cap) in enumerate(((10, None), (50, None), (100, 50))):
        sub, stamps = synthetic(rate, service_ms=5, capacity=cap)
        si = step_input(sub, stamps, rate)
        si.step, si.phase = i, f"step-{i + 1}"
        steps.append(analysis.analyze_step(si, TH))
    result = LoadResult(
        load_workers=1, worker_processes=1, worker_slots=100, thresholds=TH.model_dump(), steps=steps[:2]
    )
    analysis.summarize(result)  # as the sweep does after each step
    assert result.max_sustainable_is_lower_bound and result.stop_reason.startswith("every rate sustained")
    result.steps.append(steps[2])
    analysis.summarize(result)
    assert (result.max_sustainable_per_s, result.saturated_at_per_s) == (50, 100)
    assert not result.max_sustainable_is_lower_bound and result.stop_reason.startswith("saturated at 100/s")
