"""The open-loop load part of the run record (`run.json`'s `load`, rate sweeps only): the steps of
constant offered rate and what the sweep adds up to. harness/model/record.py re-exports them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.model.record_base import LatencySummary, OptionalFloat, _Model


# -- open-loop load (rate sweeps) -----------------------------------------------------------------
class ServiceLoad(_Model):
    """One service over one load step: CPU over the steady part, memory over the whole step."""

    service: str
    role: str
    cpu_s: float  # CPU-seconds over the steady part
    cpu_mean_pct: float  # % of one core over the steady part
    rss_start_mb: OptionalFloat = None  # first and last sample of the step
    rss_end_mb: OptionalFloat = None
    rss_max_mb: OptionalFloat = None
    # PSS (shared pages split between the processes sharing them): RSS sums PostgreSQL's shared
    # buffers once per backend process that touched them
    pss_start_mb: OptionalFloat = None
    pss_end_mb: OptionalFloat = None
    platform: bool  # counted in the platform's CPU (not the harness, not the generator)


class LoadStep(_Model):
    """One step of constant offered rate: what was offered, what the platform did, and the verdict."""

    step: int
    phase: str
    warmup: bool  # a warmup step: reaches steady state, never judged
    rate_per_s: float
    duration_s: float
    warmup_s: float
    start_ns: int
    end_ns: int  # the schedule's end (drain not included)
    steady_start_ns: int
    offered_per_s: float | None  # from the generator: scheduled, sent, acknowledged
    sent_per_s: float | None
    acked_per_s: float | None
    achieved_per_s: float | None  # workflow runs whose first task started in the steady part, per s
    submissions: int
    errors: int
    error_share: float
    error_samples: list[str] = Field(default_factory=list)
    retried: int = 0  # submissions acknowledged only after the client's retries (LoadResult.retry)
    generator_workers: int
    generator_late: int  # submissions the generator could not send on time (counted, not dropped)
    generator_lag_p99_ms: float | None
    generator_unsent: int = 0  # of generator_late: never sent before the step ended
    generator_limited: bool
    back_pressure: bool = False  # every generator connection waited on the platform at some moment
    generator_setup: str | None = (
        None  # the workers' scheduling and CPU-idle settings (cpu_idle.IdlePoll: machine-wide)
    )
    tasks_expected: int  # acknowledged runs x tasks per run
    tasks_completed: int
    missing: int
    duplicates: int
    not_started: int  # acknowledged runs with no task started by the end of the drain
    latency_ms: dict[str, LatencySummary | None]  # keyed by load.analysis.LOAD_LATENCY_METRICS
    engine_sampled: int = 0
    engine_errors: int = 0
    engine_error: str | None = None  # the first of them, one line
    backlog: list[tuple[float, int]] = Field(default_factory=list)  # (s since step start, submitted - started)
    backlog_slope_per_s: float | None = None
    backlog_end: int | None = None
    services: list[ServiceLoad] = Field(default_factory=list)
    platform_cpu_s: float | None = None
    tasks_in_steady: int = 0
    cpu_ms_per_task: float | None = None
    memory_growth_mb: float | None = None  # all platform services, last sample minus first of the step
    memory_growth_of: Literal["pss", "rss"] | None = None  # PSS where every platform service has it
    verdict: Literal["ok", "saturated", "generator-limited", "failed"]
    reasons: list[str] = Field(default_factory=list)


class LoadResult(_Model):
    """A rate sweep: its steps, and what they add up to."""

    load_workers: int  # Locust worker processes
    worker_processes: int | None  # the platform's worker processes and slots (None: adapter default)
    worker_slots: int | None
    generator_ceiling_per_s: float | None = None  # measured on this machine, per Locust worker process
    generator_ceiling_note: str | None = None
    retry: str | None = None  # the platform client's retry policy the generator mirrored; None: none
    thresholds: dict[str, float]
    state: str = "steady: each step measured after its warmup_s, following the steps before it"
    steps: list[LoadStep] = Field(default_factory=list)
    max_sustainable_per_s: float | None = None
    max_sustainable_is_lower_bound: bool = False  # the sweep ended for a reason other than the platform's saturation
    saturated_at_per_s: float | None = None
    stop_reason: str | None = None
    cpu_ms_per_task: float | None = None  # at the highest sustainable step
    memory_growth_mb: float | None = None
