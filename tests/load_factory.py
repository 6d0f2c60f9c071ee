"""Rate-sweep records for unit tests: steps of a given rate, verdict and CPU per service."""

from __future__ import annotations

from harness.analysis.load import summarize
from harness.model.record import LoadResult, LoadStep, ServiceLoad

STEADY_S = 30.0  # each step's steady part


def step(rate: float, cpu_ms: dict[str, float] | float, verdict: str = "ok", warmup: bool = False, i: int = 0):
    """A step at `rate` runs/s whose platform services spent `cpu_ms` CPU-ms per task (one 'server', or
    one figure per service); a harness service beside them spends as much again (never the platform's)."""
    per = cpu_ms if isinstance(cpu_ms, dict) else {"server": cpu_ms}
    tasks = int(rate * STEADY_S)
    services = [
        ServiceLoad(service=name, role="server", cpu_s=ms * tasks / 1000, cpu_mean_pct=0.0, platform=True)
        for name, ms in per.items()
    ]
    services.append(
        ServiceLoad(service="harness", role="harness", cpu_s=sum(per.values()), cpu_mean_pct=0.0, platform=False)
    )
    return LoadStep(
        step=i,
        phase=f"step-{i}",
        warmup=warmup,
        rate_per_s=rate,
        duration_s=STEADY_S,
        warmup_s=0.0,
        start_ns=0,
        end_ns=1,
        steady_start_ns=0,
        offered_per_s=rate,
        sent_per_s=rate,
        acked_per_s=rate,
        achieved_per_s=rate,
        submissions=tasks,
        errors=0,
        error_share=0.0,
        generator_workers=1,
        generator_late=0,
        generator_lag_p99_ms=None,
        generator_limited=False,
        tasks_expected=tasks,
        tasks_completed=tasks,
        missing=0,
        duplicates=0,
        not_started=0,
        latency_ms={},
        services=services,
        platform_cpu_s=sum(s.cpu_s for s in services if s.platform),
        tasks_in_steady=tasks,
        cpu_ms_per_task=sum(per.values()),
        verdict=verdict,
    )


def sweep(*steps: LoadStep) -> LoadResult:
    """A sweep of these steps, summarized as the harness does (maximum sustainable rate, its CPU per task)."""
    load = LoadResult(load_workers=1, worker_processes=1, worker_slots=100, thresholds={}, steps=list(steps))
    summarize(load)
    return load


def rates(points: dict[float, float], saturated_at: float | None = None) -> LoadResult:
    """A sweep over {rate: CPU-ms per task}, saturating at `saturated_at` (a step after the last one)."""
    steps = [step(r, ms, i=i) for i, (r, ms) in enumerate(sorted(points.items()))]
    if saturated_at is not None:
        steps.append(step(saturated_at, 1.0, verdict="saturated", i=len(steps)))
    return sweep(*steps)
