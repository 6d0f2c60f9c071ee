"""The metrics a claim can name, each read from one RunRecord (its summary recomputed by the report).

A figure carries its spread across repetitions where the run has one, so an evaluator can tell a
verdict from noise. Metrics of results that do not exist yet (load sweeps, issue 8; fault
scenarios, issue 10) read the record's `load` / `fault` field by attribute: until a run has one,
they are simply not measured, and claims naming them turn into verdicts when such runs arrive.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable, Literal

from harness.analysis.load_projection import ASSUMPTIONS, TARGET_PER_S, project_sweep, step_at
from harness.model import registry
from harness.model.record import ResourceSummaryRow, RunRecord, Spread
from harness.model.setup_guide import setup_counts

LATENCY = {  # analysis.LATENCY_METRICS, in words short enough for a verdict line
    "submit_to_first_start": "submit -> task start",
    "engine_queue_to_start": "engine queued -> started",
    "transition": "chain transition",
    "workflow_e2e": "submit -> workflow done",
    "engine_workflow_start": "engine workflow created -> started",
}
PERCENTILES = ("p50", "p90", "p99", "max")


@dataclass(frozen=True)
class Figure:
    value: float
    spread: Spread | None = None  # across measured repetitions, where the run has it
    lower_bound: bool = False  # the true value may be higher (a sweep that stopped early)
    caveat: str | None = None


@dataclass(frozen=True)
class Metric:
    label: str
    unit: str
    fmt: str
    better: Literal["lower", "higher"]
    read: Callable[[RunRecord], Figure | None]
    # a fault metric: the figure of any set of experiments (one, to judge each on its own)
    of_outcomes: Callable[[list[Any]], float | None] | None = None
    exact: bool = False  # a count the stack's files fix (services), not a measurement that varies run to run
    # a sweep figure that can also be read at any sustained offered rate (to compare platforms at one rate)
    at_rate: Callable[[RunRecord, float], Figure | None] | None = None
    assumes: tuple[str, ...] = ()  # a projection: what it takes for granted, printed with the verdict

    def show(self, value: float) -> str:
        return f"{format(value, self.fmt)} {self.unit}".rstrip()

    def describe(self, fig: Figure) -> str:
        """The figure in words with its spread: 'median 249 tasks/s [120-440], 5 repetitions, cv 67% (unstable)'."""
        text = self.show(fig.value)
        if fig.caveat:
            text += f" ({fig.caveat})"
        s = fig.spread
        if s is None or s.n < 2:
            return text
        text = f"median {text}" if s.median == fig.value else text
        rng = f"[{format(s.min, self.fmt)}–{format(s.max, self.fmt)}]"
        return f"{text} {rng} over {s.n} repetitions, cv {s.cv:.0%}" + (" (unstable)" if s.unstable else "")


def _latency(metric: str, pct: str) -> Callable[[RunRecord], Figure | None]:
    def read(r: RunRecord) -> Figure | None:
        summary = r.summary.latency_ms.get(metric) if r.summary else None
        if summary is None:
            return None
        spread = None
        if metric == "submit_to_first_start" and pct == "p50":
            spread = r.summary.submit_to_first_start_p50_by_repetition_ms
        return Figure(getattr(summary, f"{pct}_ms"), spread)

    return read


def _throughput(r: RunRecord) -> Figure | None:
    tp = r.summary.throughput_tasks_per_s if r.summary else None
    return Figure(tp.median, tp) if tp else None


def _memory(row: ResourceSummaryRow) -> float:
    # PSS where sampled (shared pages counted once), else RSS
    return (row.pss_mean_mb if row.pss_mean_mb is not None else row.rss_mean_mb) or 0.0


def idle_rows(r: RunRecord) -> list[ResourceSummaryRow]:
    """The platform's services while idle: servers, databases, workers; never the harness's driver."""
    if not r.summary:
        return []
    return [row for row in r.summary.resources if row.kind == "idle" and row.role != "harness"]


def _idle_memory(r: RunRecord) -> Figure | None:
    rows = idle_rows(r)
    return Figure(sum(_memory(row) for row in rows)) if rows else None


def _idle_cpu(r: RunRecord) -> Figure | None:
    rows = idle_rows(r)
    return Figure(sum(row.cpu_mean_pct or 0.0 for row in rows)) if rows else None


def _setup(field: str, scale: float = 1.0) -> Callable[[RunRecord], Figure | None]:
    def read(r: RunRecord) -> Figure | None:
        value = getattr(r.setup, field)
        return None if value is None else Figure(value * scale)

    return read


def _guide(count: str) -> Callable[[RunRecord], Figure | None]:
    """A count of the vendor's self-hosting guide for the run's platform (stacks/<name>/platform.yaml
    setup_guide): what a user of that guide starts and sets, not what our stack files hold."""

    def read(r: RunRecord) -> Figure | None:
        guide = registry.setup_guide(r.platform)
        return None if guide is None else Figure(float(getattr(setup_counts(guide), count)))

    return read


def _server_services(r: RunRecord) -> Figure | None:
    services = r.deployment.services
    return Figure(sum(1 for s in services if s.role == "server")) if services else None


def _load(field: str) -> Callable[[RunRecord], Figure | None]:
    """A figure of a rate sweep (issue 8: RunRecord.load)."""

    def read(r: RunRecord) -> Figure | None:
        load = getattr(r, "load", None)
        value = getattr(load, field, None) if load is not None else None
        if value is None:
            return None
        lower = field == "max_sustainable_per_s" and bool(getattr(load, "max_sustainable_is_lower_bound", False))
        why = f"a lower bound: the sweep stopped before the platform saturated ({load.stop_reason})" if lower else None
        return Figure(float(value), lower_bound=lower, caveat=why)

    return read


def _cpu_at_rate(r: RunRecord, rate_per_s: float) -> Figure | None:
    """CPU per task, all services, at one sustained step of the sweep (None: not sustained there)."""
    load = getattr(r, "load", None)
    step = step_at(load, rate_per_s) if load is not None else None
    return Figure(step.cpu_ms_per_task) if step is not None and step.cpu_ms_per_task is not None else None


def _projected_cores(r: RunRecord) -> Figure | None:
    load = getattr(r, "load", None)
    got = project_sweep(load) if load is not None else None
    return Figure(got.cores, caveat=got.describe()) if got is not None else None


def fault_outcomes(r: RunRecord) -> list[Any]:
    """The fault experiments of a run that ran as designed (issue 10: repetitions[].fault), measured
    repetitions only; what the platform did in them, whatever it was, is the outcome."""
    reps = [rep for rep in r.repetitions if not rep.warmup and getattr(rep, "fault", None) is not None]
    return [rep.fault for rep in reps if rep.fault.ran_as_designed]


def _fault(total: Callable[[list[Any]], float | None]) -> Callable[[RunRecord], Figure | None]:
    def read(r: RunRecord) -> Figure | None:
        outcomes = fault_outcomes(r)
        value = total(outcomes) if outcomes else None
        return None if value is None else Figure(float(value))

    return read


def _worst_recovery(outcomes: list[Any]) -> float | None:
    found = [o.first_completion_after_undo_s for o in outcomes if o.first_completion_after_undo_s is not None]
    return max(found) if found else None


def _drain_speedup(outcomes: list[Any]) -> float | None:
    """The median ratio (of an even number: the mean of the middle two)."""
    ratios = [
        o.throughput.after / o.throughput.before
        for o in outcomes
        if o.throughput.after is not None and o.throughput.before
    ]
    return statistics.median(ratios) if ratios else None


def _fault_metric(label: str, unit: str, fmt: str, better: str, total: Callable[[list[Any]], float | None]) -> Metric:
    return Metric(label, unit, fmt, better, _fault(total), of_outcomes=total)


def _latency_metrics() -> dict[str, Metric]:
    """Each latency at each percentile."""
    return {
        f"{m}.{pct}_ms": Metric(f"{words} {pct}", "ms", ".3f", "lower", _latency(m, pct))
        for m, words in LATENCY.items()
        for pct in PERCENTILES
    }


def _setup_metrics() -> dict[str, Metric]:
    """Throughput, idle resources and the stack's setup and deployment."""
    return {
        "throughput_tasks_per_s": Metric("throughput", "tasks/s", ".0f", "higher", _throughput),
        "idle_memory_mb": Metric("idle memory (PSS), all services", "MB", ".0f", "lower", _idle_memory),
        "idle_cpu_pct": Metric("idle CPU, all services", "% of a core", ".1f", "lower", _idle_cpu),
        "setup.long_running_services": Metric(
            "long-running services", "", ".0f", "lower", _setup("long_running_services"), exact=True
        ),
        "deployment.server_services": Metric(
            "server processes in the recorded deployment", "", ".0f", "lower", _server_services, exact=True
        ),
        "setup.start_to_ready_s": Metric("start -> ready", "s", ".1f", "lower", _setup("start_to_ready_s")),
        "guide.services": Metric(
            "long-running services the vendor's self-hosting guide starts (optional ones left out)",
            "",
            ".0f",
            "lower",
            _guide("essential_services"),
            exact=True,
        ),
        "guide.config_keys": Metric(
            "configuration keys the vendor's guide has the user set",
            "",
            ".0f",
            "lower",
            _guide("config_keys"),
            exact=True,
        ),
        "setup.ready_to_first_task_s": Metric(
            "ready -> first task", "s", ".1f", "lower", _setup("ready_to_first_task_s")
        ),
        "setup.footprint_mb": Metric("install footprint", "MB", ".0f", "lower", _setup("footprint_bytes", 2**-20)),
    }


def _load_metrics() -> dict[str, Metric]:
    """issue 8 (load sweeps): RunRecord.load"""
    return {
        "load.max_sustainable_per_s": Metric(
            "maximum sustainable rate", "runs/s", ".0f", "higher", _load("max_sustainable_per_s")
        ),
        "load.cpu_ms_per_task": Metric(
            "CPU per task at a sustained step, all services",
            "CPU-ms",
            ".2f",
            "lower",
            _load("cpu_ms_per_task"),
            at_rate=_cpu_at_rate,
        ),
        "load.cores_for_1000_per_s": Metric(
            f"cores projected for {TARGET_PER_S:,.0f} tasks/s from the highest sustainable step, all services",
            "cores",
            ".1f",
            "lower",
            _projected_cores,
            assumes=ASSUMPTIONS,
        ),
    }


def _fault_metrics() -> dict[str, Metric]:
    """issue 10 (fault scenarios): repetitions[].fault, summed over the measured repetitions"""
    return {
        "fault.tasks_lost": _fault_metric("tasks lost", "", ".0f", "lower", lambda os: sum(o.tasks_lost for o in os)),
        "fault.tasks_duplicated": _fault_metric(
            "tasks run twice", "", ".0f", "lower", lambda os: sum(o.tasks_duplicated for o in os)
        ),
        "fault.runs_failed": _fault_metric(
            "workflow runs failed or unfinished",
            "",
            ".0f",
            "lower",
            lambda os: sum(o.runs_failed + o.runs_unfinished for o in os),
        ),
        "fault.recovery_s": _fault_metric(
            "worst time from the undo (replacement, restart) to the first task completed",
            "s",
            ".1f",
            "lower",
            _worst_recovery,
        ),
        "fault.drain_speedup": _fault_metric(
            "backlog drain rate after adding workers / before (median)",
            "x",
            ".2f",
            "higher",
            _drain_speedup,
        ),
    }


def _all() -> dict[str, Metric]:
    return {**_latency_metrics(), **_setup_metrics(), **_load_metrics(), **_fault_metrics()}


METRICS: dict[str, Metric] = _all()
