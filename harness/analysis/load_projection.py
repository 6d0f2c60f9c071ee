"""Rate sweeps read at matched conditions: which offered rates a sweep sustained, the highest rate a
set of sweeps all sustained (so efficiency is compared at one offered rate, not at each platform's
own maximum), and the cores a target rate would need, projected from the CPU each service spent per
task at a sustained step. Pure functions of the load record: no I/O, no state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from harness.model.load_record import LoadResult, LoadStep

TARGET_PER_S = 1000.0  # "thousands of tasks per second", read at its most lenient

# What a projection takes for granted, printed beside every projected figure.
ASSUMPTIONS = (
    "CPU per task of each service stays what it was at the measured step as the rate grows (linear scaling); "
    "CPU per task fell as the sweep's rate rose (fixed costs shared by more tasks), so the projection from "
    "the highest sustained step is the most favourable the sweep supports",
    "the worker's share scales with the number of workers (each task costs its worker the same CPU); "
    "assumed, not measured: the worker-scale-out fault measures how fast a backlog drains with one more "
    "worker on this 2-core machine, not CPU per task",
    "cores are CPU-seconds per second on cores like the measured machine's, with no headroom and nothing "
    "for coordination between replicas (a lower bound on a real cluster)",
)


def sustained_steps(load: LoadResult) -> list[LoadStep]:
    """The measured steps the platform kept up with, up to the first it did not (as the sweep's own
    maximum sustainable rate is defined: harness/analysis/load.py summarize)."""
    out = []
    for s in load.steps:
        if s.warmup:
            continue
        if s.verdict != "ok":
            break
        out.append(s)
    return out


def highest_sustained(load: LoadResult) -> LoadStep | None:
    steps = sustained_steps(load)
    return steps[-1] if steps else None


def step_at(load: LoadResult, rate_per_s: float) -> LoadStep | None:
    """The sustained step at this offered rate, if the sweep sustained it."""
    return next((s for s in sustained_steps(load) if s.rate_per_s == rate_per_s), None)


def common_rate(loads: Iterable[LoadResult]) -> float | None:
    """The highest offered rate every sweep sustained; None when they share none (or there are none)."""
    shared: set[float] | None = None
    for load in loads:
        rates = {s.rate_per_s for s in sustained_steps(load)}
        shared = rates if shared is None else shared & rates
    return max(shared) if shared else None


@dataclass(frozen=True)
class ServiceShare:
    """One platform service's part of a projection."""

    service: str
    role: str
    cpu_ms_per_task: float
    cores: float  # at the target rate


@dataclass(frozen=True)
class Projection:
    """Cores a target rate would need, from the CPU per task of each service at one measured step."""

    target_per_s: float
    measured_at_per_s: float  # the step's offered rate
    tasks: int  # tasks behind the step's CPU figures (the steady part)
    services: tuple[ServiceShare, ...]

    @property
    def cores(self) -> float:
        return sum(s.cores for s in self.services)

    @property
    def cpu_ms_per_task(self) -> float:
        return sum(s.cpu_ms_per_task for s in self.services)

    def breakdown(self) -> str:
        """'postgres 16.6, engine 8.7, api 5.8, worker 5.1 cores' (largest first)."""
        ordered = sorted(self.services, key=lambda s: s.cores, reverse=True)
        return ", ".join(f"{s.service} {s.cores:.1f}" for s in ordered) + " cores"

    def describe(self) -> str:
        return (
            f"{self.target_per_s:,.0f} tasks/s x {self.cpu_ms_per_task:.1f} CPU-ms per task measured at "
            f"{self.measured_at_per_s:g} runs/s ({self.tasks} tasks): {self.breakdown()}"
        )


def project(step: LoadStep, target_per_s: float = TARGET_PER_S) -> Projection | None:
    """Cores for `target_per_s` tasks/s: per platform service, CPU-seconds per task x tasks per second
    (the harness and the load generator are not the platform's). None without tasks or services."""
    services = [s for s in step.services if s.platform]
    if step.tasks_in_steady <= 0 or not services:
        return None
    shares = []
    for s in services:
        per_task_ms = 1000.0 * s.cpu_s / step.tasks_in_steady
        shares.append(ServiceShare(s.service, s.role, per_task_ms, per_task_ms * target_per_s / 1000.0))
    return Projection(target_per_s, step.rate_per_s, step.tasks_in_steady, tuple(shares))


def project_sweep(load: LoadResult, target_per_s: float = TARGET_PER_S) -> Projection | None:
    """The projection from the sweep's highest sustained step."""
    step = highest_sustained(load)
    return project(step, target_per_s) if step is not None else None
