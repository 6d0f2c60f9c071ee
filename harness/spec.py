"""Declarative workloads (workloads/*.yaml), validated with pydantic.

Every workload is the same shape on every platform: a number of workflow runs, submitted
one after another, each a chain (sequential) or a fan-out (parallel) of identical tasks.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import BenchError, invalid
from .paths import WORKLOADS_DIR


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(Strict):
    op: Literal["noop", "fib"] = "noop"
    n: int = Field(0, ge=0, le=40, description="argument of fib; ignored by noop")


class Workload(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    shape: Literal["chain", "fanout", "idle"]
    tasks: int = Field(0, ge=0, le=10_000, description="tasks per workflow run")
    task: TaskSpec = TaskSpec()
    runs: int = Field(1, ge=1, le=10_000, description="workflow runs per repetition, one after another")
    duration_s: float = Field(0, ge=0, description="idle only: how long to sample the stack with no load")
    warmup: int = Field(1, ge=0, le=100)
    repetitions: int = Field(5, ge=1, le=1000)
    timeout_s: float = Field(300, gt=0, description="limit for one workflow run, submit to completion")

    @model_validator(mode="after")
    def _shape_fits(self) -> "Workload":
        if self.shape == "idle":
            if self.duration_s <= 0:
                raise ValueError("an idle workload needs duration_s > 0")
        elif self.tasks < 1:
            raise ValueError(f"a {self.shape} workload needs tasks >= 1")
        return self

    @property
    def expected_tasks_per_repetition(self) -> int:
        return 0 if self.shape == "idle" else self.tasks * self.runs

    def digest(self) -> str:
        """Hash of the validated content, so results name exactly what ran."""
        canonical = self.model_dump_json(exclude={"description"})
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def available() -> list[str]:
    return sorted(p.stem for p in WORKLOADS_DIR.glob("*.yaml"))


def load(name_or_path: str) -> Workload:
    path = Path(name_or_path)
    if not path.suffix:
        path = WORKLOADS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BenchError(f"unknown workload {name_or_path!r}; known: {', '.join(available())}")
    return parse(path.read_text(), source=str(path))


def parse(text: str, source: str) -> Workload:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BenchError(f"{source}:{where} malformed YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{source}: a workload must be a YAML mapping")
    try:
        return Workload.model_validate(data)
    except ValidationError as err:
        raise invalid(source, err) from None
