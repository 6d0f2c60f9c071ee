"""Declarative workloads (workloads/*.yaml), validated with pydantic.

Every workload is the same shape on every platform: a number of workflow runs, submitted
one after another, each a chain (sequential) or a fan-out (parallel) of identical tasks; or a
rate sweep (shape `sweep`): workflow runs submitted open-loop at a rate fixed in advance, in steps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.model.errors import BenchError
from harness.model.paths import WORKLOADS_DIR
from harness.model.yamlfile import load_yaml_model, read_yaml_mapping, validate_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(Strict):
    op: Literal["noop", "fib"] = "noop"
    n: int = Field(0, ge=0, le=40, description="argument of fib; ignored by noop")


class WorkerPool(Strict):
    """The platform's worker processes and each one's concurrency slots, recorded with the results."""

    processes: int = Field(1, ge=1, le=16)
    slots: int = Field(100, ge=1, le=10_000, description="concurrent tasks per worker process")


class SaturationThresholds(Strict):
    """When a step counts as saturated (any one is enough)."""

    p99_ms: float = Field(gt=0, description="p99 scheduling latency from the intended time")
    backlog_growth: float = Field(
        0.05,
        gt=0,
        le=1,
        description="backlog (submitted - started) growing faster "
        "than this share of the offered rate, over the steady part",
    )
    error_share: float = Field(0.0, ge=0, lt=1, description="more failed submissions than this share")
    keep_up: float = Field(0.95, gt=0, le=1, description="achieved below this share of offered is not keeping up")
    generator_lag_p99_ms: float = Field(
        1.0, gt=0, description="the generator's send lag p99 above this: the generator, not the platform, is the limit"
    )


class SweepSpec(Strict):
    """Open-loop steps of constant rate, lowest first, until the platform saturates."""

    rates: list[float] = Field(min_length=1, description="offered workflow runs per second, one step each")
    step_s: float = Field(gt=0, le=3600, description="length of each step, warmup included")
    warmup_s: float = Field(0, ge=0, description="first part of each step, not measured (reaching steady state)")
    drain_s: float = Field(60, gt=0, description="after a step, how long to wait for the runs it submitted")
    thresholds: SaturationThresholds
    load_workers: int = Field(1, ge=1, le=64, description="Locust worker processes generating the load")
    engine_sample: int = Field(20, ge=0, le=1000, description="runs per step whose engine records are read")
    measure_ceiling: bool = Field(True, description="measure the generator's own ceiling on this machine first")

    @model_validator(mode="after")
    def _steps_fit(self) -> "SweepSpec":
        if any(r <= 0 for r in self.rates):
            raise ValueError("rates must be > 0")
        if list(self.rates) != sorted(set(self.rates)):
            raise ValueError("rates must increase, each once")
        if self.warmup_s >= self.step_s:
            raise ValueError("warmup_s must be shorter than step_s")
        return self


class FaultTarget(Strict):
    """Which service a fault hits: by role (every backend names roles the same) or by service name."""

    role: str | None = Field(None, description="server | database | queue | worker")
    service: str | None = Field(None, description="a service name, e.g. history, postgres")
    in_turn: bool = Field(
        False,
        description="role only: measured repetition k hits the k-th service of the "
        "role (sorted by name), so every server of a multi-service stack gets its turn",
    )

    @model_validator(mode="after")
    def _one(self) -> "FaultTarget":
        if (self.role is None) == (self.service is None):
            raise ValueError("name exactly one of role or service")
        if self.in_turn and self.role is None:
            raise ValueError("in_turn needs a role")
        return self


class FaultTrigger(Strict):
    """When the fault fires, counted from the stamps of the repetition's own task bodies."""

    after_tasks: int | None = Field(None, ge=1, description="once this many task bodies have ended")
    at_s: float | None = Field(None, ge=0, description="this long after the repetition's first submit")
    mid_task: int | None = Field(
        None,
        ge=1,
        description="chain: in the body of this task (0-based) of the "
        "first workflow run, i.e. delay_s after the previous task's end stamp",
    )
    delay_s: float = Field(0.0, ge=0, le=60, description="added to after_tasks and mid_task")

    @model_validator(mode="after")
    def _one(self) -> "FaultTrigger":
        if sum(x is not None for x in (self.after_tasks, self.at_s, self.mid_task)) != 1:
            raise ValueError("name exactly one of after_tasks, at_s or mid_task")
        return self


DEFAULT_SETTLE_S = 1.0  # a worker's first task after a change runs beside its start-up's last work


class FaultSpec(Strict):
    """A fault in every measured repetition (never in warmup, which is the undisturbed baseline)."""

    scenario: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="the fault table's column")
    action: Literal["kill", "restart", "pause", "scale-out", "partition"]
    signal: Literal["SIGKILL", "SIGTERM", "SIGINT"] = Field("SIGKILL", description="kill only")
    add_workers: int | None = Field(
        None,
        ge=1,
        le=8,
        description="scale-out only: worker processes added (default 1), stopped again when the repetition ends",
    )
    target: FaultTarget
    trigger: FaultTrigger
    settle_s: float | None = Field(
        None,
        ge=0,
        le=60,
        description="scale-out only: time left out of the steady windows after each change of the "
        f"worker set (the first task started, an added worker's first task started); unset: {DEFAULT_SETTLE_S:g}",
    )
    undo_after_s: list[float] = Field(
        default_factory=list,
        description="kill: start the service again, "
        "pause: resume it, this long after the fault; measured repetition k uses "
        "entry k (cycling); empty: never undone",
    )

    def settling_s(self) -> float:
        return DEFAULT_SETTLE_S if self.settle_s is None else self.settle_s

    @model_validator(mode="after")
    def _undo_fits(self) -> "FaultSpec":
        if any(s < 0 for s in self.undo_after_s):
            raise ValueError("undo_after_s must be >= 0")
        if self.action in ("pause", "partition") and not self.undo_after_s:
            raise ValueError(f"a {self.action} needs undo_after_s (how long until it is undone)")
        if self.action in ("restart", "scale-out") and self.undo_after_s:
            raise ValueError(f"a {self.action} is not undone after a delay: leave undo_after_s empty")
        if self.action in ("scale-out", "partition") and self.target.role != "worker":
            raise ValueError(f"a {self.action} acts on the harness's workers: its target is {{role: worker}}")
        if self.action != "scale-out" and (self.add_workers is not None or self.settle_s is not None):
            raise ValueError("add_workers and settle_s are for a scale-out")
        return self


class Workload(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    shape: Literal["chain", "fanout", "idle", "sweep"]
    tasks: int = Field(0, ge=0, le=10_000, description="tasks per workflow run")
    task: TaskSpec = TaskSpec()
    runs: int = Field(1, ge=1, le=10_000, description="workflow runs per repetition, one after another")
    submit: Literal["closed-loop", "all-at-once"] | None = Field(
        None,
        description="closed-loop (default): each run submitted once the previous one is final; "
        "all-at-once: every run of a repetition submitted first, then awaited (the runs queue: a backlog)",
    )
    duration_s: float = Field(0, ge=0, description="idle only: how long to sample the stack with no load")
    warmup: int = Field(1, ge=0, le=100)
    repetitions: int = Field(5, ge=1, le=1000)
    timeout_s: float = Field(300, gt=0, description="limit for one workflow run, submit to completion")
    workers: WorkerPool | None = Field(None, description="platform worker processes and slots; None: the adapter's")
    sweep: SweepSpec | None = Field(None, description="sweep only: its steps and saturation thresholds")
    fault: FaultSpec | None = Field(None, description="a fault fired in each measured repetition")

    @model_validator(mode="before")
    @classmethod
    def _sweep_runs_once(cls, data):
        if isinstance(data, dict) and data.get("shape") == "sweep" and "repetitions" not in data:
            data = {**data, "repetitions": 1}
        return data

    @model_validator(mode="after")
    def _shape_fits(self) -> "Workload":
        if self.shape == "idle":
            if self.duration_s <= 0:
                raise ValueError("an idle workload needs duration_s > 0")
        elif self.tasks < 1:
            raise ValueError(f"a {self.shape} workload needs tasks >= 1")
        elif self.duration_s:
            raise ValueError(f"duration_s is for idle workloads; a {self.shape} workload is as long as its runs")
        if (self.shape == "sweep") != (self.sweep is not None):
            raise ValueError(
                "a sweep workload needs a sweep block"
                if self.shape == "sweep"
                else f"a {self.shape} workload takes no sweep block"
            )
        if self.shape == "sweep" and (self.runs != 1 or self.repetitions != 1):
            raise ValueError("a sweep sets its runs by rate and runs once: leave runs and repetitions at 1")
        if self.fault is not None:
            self._fault_fits(self.fault)
        return self

    def _fault_fits(self, fault: FaultSpec) -> None:
        if self.shape not in ("chain", "fanout"):
            raise ValueError(f"a fault needs a chain or fanout workload, not {self.shape}")
        mid = fault.trigger.mid_task
        if mid is not None and (self.shape != "chain" or mid >= self.tasks):
            raise ValueError(f"trigger.mid_task needs a chain of more than {mid} tasks")
        after = fault.trigger.after_tasks
        if after is not None and after >= self.tasks * self.runs:
            raise ValueError(f"trigger.after_tasks must be below the {self.tasks * self.runs} tasks of a repetition")

    @property
    def expected_tasks_per_repetition(self) -> int:
        return 0 if self.shape == "idle" else self.tasks * self.runs

    def digest(self) -> str:
        """Hash of the validated content, so results name exactly what ran. Fields left unset are
        left out, so adding an optional field does not change the hash of the workloads before it."""
        exclude: dict = {
            name: True
            for name in ("description", "workers", "sweep", "fault", "submit")
            if name == "description" or getattr(self, name) is None
        }
        if self.fault is not None:  # its optional fields added since, when unset
            unset = {f: True for f in ("add_workers", "settle_s") if getattr(self.fault, f) is None}
            if unset:
                exclude["fault"] = unset
        canonical = self.model_dump_json(exclude=exclude)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def available() -> list[str]:
    return sorted(p.stem for p in WORKLOADS_DIR.glob("*.yaml"))


def load(name_or_path: str) -> Workload:
    """A workload by name (workloads/<name>.yaml) or path; an unknown name lists the known ones."""
    path = Path(name_or_path)
    if not path.suffix:
        path = WORKLOADS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BenchError(f"unknown workload {name_or_path!r}; known: {', '.join(available())}")
    return load_yaml_model(path, Workload, "a workload")


def parse(text: str, source: str) -> Workload:
    """A workload's text validated, worded like every other YAML file the harness reads."""
    return validate_model(read_yaml_mapping(None, "a workload", text=text, source=source), Workload, source)
