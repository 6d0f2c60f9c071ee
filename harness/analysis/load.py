"""One load step judged from its raw samples: the generator's submissions (intended, send and ack
times), the stamps from inside the task bodies, a sample of the engine's records and the resource
samples. Pure functions over DataFrames, so the tests can feed them synthetic steps.

Latency is taken twice: from the send, and from the intended time of the schedule, which is the
coordinated-omission-corrected figure (a generator that fell behind, or a platform that held the
generator back, cannot hide latency from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from scipy import stats as scistats

from harness.analysis import stats
from harness.model.engine import EngineWorkflow
from harness.model.record import LoadResult, LoadStep, ServiceLoad
from harness.model.spec import SaturationThresholds

LOAD_LATENCY_METRICS = {
    "intended_to_start": "schedule's intended time -> first line of the run's first task body (CO-corrected)",
    "send_to_start": "generator sent the submission -> first line of the run's first task body",
    "send_to_ack": "generator sent the submission -> the platform acknowledged it",
    "engine_queue_to_start": "engine: task queued/scheduled -> started (a sample of runs)",
}
BACKLOG_POINTS = 60  # the backlog series is kept at about this many points per step
MAX_REASONS = 10
MS = 1_000_000
NON_PLATFORM_ROLES = ("harness", "generator")


@dataclass
class StepInput:
    """Everything measured about one step, as raw rows."""

    step: int
    phase: str
    warmup: bool
    rate_per_s: float
    duration_s: float
    warmup_s: float
    start_ns: int  # the schedule's start
    submissions: pd.DataFrame  # the generator's records (see harness/load/generator.py)
    stamps: list[dict]  # stamps of this step's runs, read after the drain
    tasks_per_run: int
    drain_end_ns: int  # when the harness stopped waiting for this step's runs
    resources: pd.DataFrame = field(default_factory=pd.DataFrame)
    engine: dict[str, EngineWorkflow] = field(default_factory=dict)
    engine_errors: int = 0
    engine_error: str | None = None
    generator_workers: int = 1
    in_flight_limit: int | None = None  # the generator's connections over all its workers
    offered_per_s: float | None = None
    sent_per_s: float | None = None
    acked_per_s: float | None = None


def ok_mask(sub: pd.DataFrame) -> pd.Series:
    """Submissions the platform acknowledged with a 2xx and no error."""
    status = pd.to_numeric(sub["http_status"], errors="coerce")
    return sub["error"].isna() & status.between(200, 299)


def first_starts(stamps: list[dict]) -> pd.Series:
    """workflow_id -> first body start (ns)."""
    if not stamps:
        return pd.Series(dtype="Int64")
    df = pd.DataFrame(stamps)
    return df.groupby("workflow_id")["body_start_ns"].min()


def analyze_step(si: StepInput, th: SaturationThresholds) -> LoadStep:
    sub = si.submissions
    end_ns = si.start_ns + int(si.duration_s * 1e9)
    steady_ns = si.start_ns + int(si.warmup_s * 1e9)
    ok = ok_mask(sub) if len(sub) else pd.Series(dtype=bool)
    acked = sub[ok]
    starts = first_starts(si.stamps)
    count = _count_tasks(si.stamps, set(acked["workflow_id"]), si.tasks_per_run)
    lat = _latencies(sub[ok & ~sub["warmup"]] if len(sub) else sub, starts, si)
    window_s = (end_ns - steady_ns) / 1e9
    started_in_steady = _started_in_window(starts, steady_ns, end_ns, lat["intended_to_start"], si.drain_end_ns)
    backlog, slope = _backlog(acked, starts, si.start_ns, end_ns, steady_ns)
    step = LoadStep(
        step=si.step,
        phase=si.phase,
        warmup=si.warmup,
        rate_per_s=si.rate_per_s,
        duration_s=si.duration_s,
        warmup_s=si.warmup_s,
        start_ns=si.start_ns,
        end_ns=end_ns,
        steady_start_ns=steady_ns,
        offered_per_s=si.offered_per_s,
        sent_per_s=si.sent_per_s,
        acked_per_s=si.acked_per_s,
        achieved_per_s=started_in_steady / window_s,
        **_submission_fields(sub, ok, si, th),
        tasks_expected=len(acked) * si.tasks_per_run,
        tasks_completed=count[0],
        missing=count[1],
        duplicates=count[2],
        not_started=int((~acked["workflow_id"].isin(starts.index)).sum()),
        latency_ms=lat,
        engine_sampled=len(si.engine),
        engine_errors=si.engine_errors,
        engine_error=si.engine_error,
        backlog=backlog,
        backlog_slope_per_s=slope,
        backlog_end=backlog[-1][1] if backlog else None,
        **_resource_fields(si, steady_ns, end_ns),
        verdict="ok",
    )
    step.verdict, step.reasons = judge(step, th)
    return step


def _submission_fields(sub: pd.DataFrame, ok: pd.Series, si: StepInput, th: SaturationThresholds) -> dict:
    """The step's submission errors and the generator's part in them, as LoadStep fields."""
    lag = _generator_lag(sub)
    unsent = sub["send_ns"].isna() if len(sub) else pd.Series(dtype=bool)
    errors = int((~ok & ~unsent).sum()) if len(sub) else 0  # the platform's: a submission never sent is the generator's
    pressure = back_pressure(acked_or_failed=sub[~unsent] if len(sub) else sub, limit=si.in_flight_limit)
    return dict(
        submissions=len(sub),
        errors=errors,
        error_share=errors / int((~unsent).sum()) if errors else 0.0,
        error_samples=_error_samples(sub[~ok]) if errors else [],
        retried=int((sub["retries"] > 0).sum()) if "retries" in sub else 0,
        generator_workers=si.generator_workers,
        generator_late=lag[0],
        generator_lag_p99_ms=lag[1],
        generator_unsent=int(unsent.sum()),
        generator_limited=not pressure and (bool(unsent.sum()) or (lag[1] or 0) > th.generator_lag_p99_ms),
        back_pressure=pressure,
    )


def _resource_fields(si: StepInput, steady_ns: int, end_ns: int) -> dict:
    """The services' load over the step and the platform's CPU per task and memory growth, as LoadStep fields."""
    services = service_loads(si.resources, si.start_ns, steady_ns, end_ns)
    ends = pd.Series([s["body_end_ns"] for s in si.stamps], dtype="int64")
    tasks_in_steady = int(((ends >= steady_ns) & (ends <= end_ns)).sum())
    platform = [s for s in services if s.platform]
    cpu_s = sum(s.cpu_s for s in platform) if platform else None
    growth = _memory_growth(platform)
    return dict(
        services=services,
        platform_cpu_s=cpu_s,
        tasks_in_steady=tasks_in_steady,
        cpu_ms_per_task=1000 * cpu_s / tasks_in_steady if cpu_s is not None and tasks_in_steady else None,
        memory_growth_mb=growth[0],
        memory_growth_of=growth[1],
    )


def judge(step: LoadStep, th: SaturationThresholds) -> tuple[str, list[str]]:
    """The step's verdict and why. Duplicated tasks are a failure whatever the load; missing tasks
    without a saturation signal fail. A generator that lagged is never blamed on the platform: with
    a sign of saturation the step is saturated only on evidence its lag cannot explain, measured
    from what it sent; without one the platform kept up even with the lag counted against it
    (latency runs from the intended time), and the step is ok (`generator_limited` still says so),
    unless submissions were never sent: then the load was not offered at all."""
    saturation = saturation_reasons(step, th)
    missing = f"{step.missing} of {step.tasks_expected} tasks missing" if step.missing else None
    if step.duplicates:
        return "failed", [f"{step.duplicates} duplicated task bodies", *saturation][:MAX_REASONS]
    if step.generator_limited and (saturation or step.generator_unsent):
        lag = (
            f"the generator's send lag p99 was {step.generator_lag_p99_ms or 0:.2f} ms (limit "
            f"{th.generator_lag_p99_ms:g} ms), {step.generator_late} submissions late or unsent"
        )
        from_send = saturation_reasons(step, th, from_send=True)
        if not from_send:
            return "generator-limited", [f"{lag}: the generator, not the platform, was the limit", *saturation][
                :MAX_REASONS
            ]
        saturation = [*from_send, lag + ", which cannot explain the above: it is measured from the sends"]
    if saturation:  # a saturated platform's missing tasks are runs the drain did not wait long enough for
        return "saturated", [*saturation, *([missing + " (not run within drain_s)"] if missing else [])][:MAX_REASONS]
    if missing:  # without any sign of saturation, a task that never ran is lost
        return "failed", [missing]
    return "ok", []


def saturation_reasons(step: LoadStep, th: SaturationThresholds, from_send: bool = False) -> list[str]:
    """Signs that the platform did not keep up. from_send: measured from what the generator sent
    and when (latency from the send, achieved against the sent rate), so its lag plays no part."""
    out = []
    metric = "send_to_start" if from_send else "intended_to_start"
    p99 = step.latency_ms.get(metric) or None
    if p99 is not None and p99.p99_ms > th.p99_ms:
        out.append(
            f"p99 scheduling latency {p99.p99_ms:.0f} ms{' from the send' if from_send else ''} > {th.p99_ms:g} ms"
        )
    base, what = (
        (step.sent_per_s, "sent") if from_send and step.sent_per_s is not None else (step.rate_per_s, "offered")
    )
    # A window's count of started runs is exact to one run either way: at 0.5/s over 30 s, 14 of 15
    # is the window's edge, not a platform falling behind.
    slack = 1e9 / max(1, step.end_ns - step.steady_start_ns)
    if step.achieved_per_s is not None and step.achieved_per_s + slack < th.keep_up * base:
        out.append(f"achieved {step.achieved_per_s:.1f}/s of {base:.4g}/s {what}")
    if step.backlog_slope_per_s is not None and step.backlog_slope_per_s > th.backlog_growth * step.rate_per_s:
        out.append(
            f"backlog grew {step.backlog_slope_per_s:.2g} runs/s over the steady part "
            f"(limit {th.backlog_growth * step.rate_per_s:.2g})"
        )
    if step.back_pressure:
        out.append("every generator connection was waiting on the platform (back-pressure)")
    if step.error_share > th.error_share:
        out.append(f"{step.errors} of {step.submissions} submissions failed ({step.error_share:.1%})")
    return out


def _started_in_window(starts: pd.Series, steady_ns: int, end_ns: int, latency, drain_end_ns: int) -> int:
    """Runs whose first task started in the steady part, shifted by the step's median latency: a
    platform that keeps up with a constant delay then achieves the offered rate even in a short
    step, and one that falls behind starts fewer runs in any window of that length. The shift
    stops at the end of the drain: starts after it were never observed."""
    if not len(starts):
        return 0
    shift = int(latency.p50_ms * MS) if latency is not None else 0
    shift = max(0, min(shift, drain_end_ns - end_ns))
    return int(((starts >= steady_ns + shift) & (starts <= end_ns + shift)).sum())


def _error_samples(failed: pd.DataFrame) -> list[str]:
    """Up to five distinct failures, each as the generator's error or the HTTP status."""
    lines = [
        str(e)[:120] if isinstance(e, str) and e else f"HTTP {st}"
        for e, st in zip(failed["error"], failed["http_status"])
    ]
    return sorted(set(lines))[:5]


def _count_tasks(stamps: list[dict], acked: set[str], tasks_per_run: int) -> tuple[int, int, int]:
    """(distinct tasks completed, tasks missing, duplicated task bodies) over the acknowledged runs."""
    seen: dict[tuple[str, int], int] = {}
    for s in stamps:
        key = (s["workflow_id"], s["index"])
        seen[key] = seen.get(key, 0) + 1
    completed = sum(1 for (wf, i) in seen if wf in acked and i < tasks_per_run)
    duplicates = sum(n - 1 for n in seen.values())
    return completed, len(acked) * tasks_per_run - completed, duplicates


def _latencies(sub: pd.DataFrame, starts: pd.Series, si: StepInput) -> dict:
    """Per measured submission. A run not started when the drain ended counts as started then: a
    lower bound that keeps the percentiles honest rather than dropping the worst runs."""
    out = {m: None for m in LOAD_LATENCY_METRICS}
    if len(sub):
        start = sub["workflow_id"].map(starts).astype("float64").fillna(si.drain_end_ns)
        out["intended_to_start"] = stats.latency_summary(_floats(start - _floats(sub["intended_ns"])))
        out["send_to_start"] = stats.latency_summary(_floats(start - _floats(sub["send_ns"])))
        out["send_to_ack"] = stats.latency_summary(_floats(_floats(sub["ack_ns"]) - _floats(sub["send_ns"])))
    engine = [
        t.started_ns - t.queued_ns
        for wf in si.engine.values()
        for t in wf.tasks
        if t.started_ns is not None and t.queued_ns is not None
    ]
    out["engine_queue_to_start"] = stats.latency_summary(engine)
    return out


def back_pressure(acked_or_failed: pd.DataFrame, limit: int | None) -> bool:
    """Whether every connection of the generator was at some moment waiting on the platform: then
    the generator's lag is the platform pushing back, and counts against the platform."""
    if not limit or not len(acked_or_failed):
        return False
    sends = _floats(acked_or_failed["send_ns"]).sort_values().to_numpy()
    acks = _floats(acked_or_failed["ack_ns"]).fillna(float("inf")).sort_values().to_numpy()
    outstanding = sends.searchsorted(sends, side="right") - acks.searchsorted(sends, side="right")
    return int(outstanding.max()) >= limit


def _floats(col: pd.Series) -> pd.Series:
    """Nullable integers (the generator's Int64 columns) as floats with NaN, which stats skips."""
    return col.astype("float64")


def _generator_lag(sub: pd.DataFrame) -> tuple[int, float | None]:
    """Over the measured submissions: (sent more than 1 ms after their intended time or never sent,
    send lag p99 in ms)."""
    if not len(sub):
        return 0, None
    measured = sub[~sub["warmup"]] if len(sub[~sub["warmup"]]) else sub
    lag = (_floats(measured["send_ns"]) - _floats(measured["intended_ns"])).dropna()
    late = int((lag > 1_000_000).sum() + (len(measured) - len(lag)))  # never sent counts as late
    summary = stats.latency_summary(lag.clip(lower=0))
    return late, summary.p99_ms if summary else None


def _backlog(
    acked: pd.DataFrame, starts: pd.Series, start_ns: int, end_ns: int, steady_ns: int
) -> tuple[list[tuple[float, int]], float | None]:
    """(submitted - started over the step, its least-squares slope over the steady part in runs/s)."""
    if not len(acked):
        return [], None
    step_ns = max((end_ns - start_ns) // BACKLOG_POINTS, 1)
    times = list(range(start_ns + step_ns, end_ns + 1, step_ns))
    sent = _floats(acked["send_ns"]).sort_values().to_numpy()
    began = _floats(starts[starts.index.isin(acked["workflow_id"])]).sort_values().to_numpy()
    series = [(round((t - start_ns) / 1e9, 3), int((sent <= t).sum() - (began <= t).sum())) for t in times]
    steady = [(t, b) for t, b in series if t >= (steady_ns - start_ns) / 1e9]
    if len(steady) < 3:
        return series, None
    fit = scistats.linregress([t for t, _ in steady], [b for _, b in steady])
    return series, float(fit.slope)


def service_loads(res: pd.DataFrame, start_ns: int, steady_ns: int, end_ns: int) -> list[ServiceLoad]:
    """CPU-seconds of each service over the steady part (each sample's % of a core times the time since
    that service's previous sample) and its RSS over the whole step."""
    if res.empty:
        return []
    out = []
    for (service, role), g in res.sort_values("t_ns").groupby(["service", "role"], sort=True):
        dt = g["t_ns"].diff() / 1e9
        steady = (g["t_ns"] > steady_ns) & (g["t_ns"] <= end_ns)
        cpu_s = float((g.loc[steady, "cpu_pct"].fillna(0) / 100 * dt[steady].fillna(0)).sum())
        in_step = g[(g["t_ns"] >= start_ns) & (g["t_ns"] <= end_ns)]
        rss = in_step["rss_bytes"] / 2**20
        pss = in_step["pss_bytes"].dropna() / 2**20 if "pss_bytes" in in_step else pd.Series(dtype=float)
        pss = pss[pss > 0]  # 0: not readable (the sampler's placeholder)
        out.append(
            ServiceLoad(
                service=service,
                role=role,
                cpu_s=cpu_s,
                cpu_mean_pct=100 * cpu_s / ((end_ns - steady_ns) / 1e9),
                rss_start_mb=float(rss.iloc[0]) if len(rss) else None,
                rss_end_mb=float(rss.iloc[-1]) if len(rss) else None,
                rss_max_mb=float(rss.max()) if len(rss) else None,
                pss_start_mb=float(pss.iloc[0]) if len(pss) else None,
                pss_end_mb=float(pss.iloc[-1]) if len(pss) else None,
                platform=role not in NON_PLATFORM_ROLES,
            )
        )
    return out


def _memory_growth(platform: list[ServiceLoad]) -> tuple[float | None, str | None]:
    """Last sample minus first over all platform services, in PSS where every one has it, else RSS."""
    if platform and all(s.pss_start_mb is not None and s.pss_end_mb is not None for s in platform):
        return sum(s.pss_end_mb - s.pss_start_mb for s in platform), "pss"
    pairs = [(s.rss_start_mb, s.rss_end_mb) for s in platform if s.rss_start_mb is not None]
    return (sum(e - s for s, e in pairs), "rss") if pairs else (None, None)


def summarize(result: LoadResult) -> None:
    """Maximum sustainable throughput: the highest offered rate whose step kept up with p99 under the
    threshold (verdict ok), below the first step that did not. Filled into `result`."""
    measured = [s for s in result.steps if not s.warmup]
    best = None
    for s in measured:
        if s.verdict != "ok":
            break
        best = s
    result.max_sustainable_per_s = best.rate_per_s if best else None
    result.cpu_ms_per_task = best.cpu_ms_per_task if best else None
    result.memory_growth_mb = best.memory_growth_mb if best else None
    stop = next((s for s in measured if s.verdict != "ok"), None)
    result.max_sustainable_is_lower_bound, result.saturated_at_per_s = False, None
    if stop is None:
        result.stop_reason = "every rate sustained; the platform's limit is above the highest rate swept"
        result.max_sustainable_is_lower_bound = bool(measured)
    elif stop.verdict == "saturated":
        result.saturated_at_per_s = stop.rate_per_s
        result.stop_reason = f"saturated at {stop.rate_per_s:g}/s: " + "; ".join(stop.reasons)
    else:
        result.max_sustainable_is_lower_bound = True
        result.stop_reason = f"{stop.verdict} at {stop.rate_per_s:g}/s: " + "; ".join(stop.reasons)
