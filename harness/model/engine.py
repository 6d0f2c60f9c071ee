"""What the harness asks an engine to run and what the engine says it did: the types that cross the
adapter boundary, shared by the adapters (which fill them) and the analysis (which reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkflowRequest:
    workflow_id: str  # unique within the run; carries the run id, so cleanup is by prefix
    shape: str  # chain | fanout
    tasks: int
    op: str
    n: int

    def params(self) -> dict:
        return {"workflow_id": self.workflow_id, "shape": self.shape, "tasks": self.tasks, "op": self.op, "n": self.n}


@dataclass
class EngineTask:
    """One task as the engine recorded it (epoch nanoseconds; None where the engine keeps no such record)."""

    index: int
    created_ns: int | None = None
    queued_ns: int | None = None
    started_ns: int | None = None
    finished_ns: int | None = None
    attempts: int = 1


@dataclass
class EngineWorkflow:
    status: str  # completed | failed | ...
    created_ns: int | None = None
    started_ns: int | None = None
    finished_ns: int | None = None
    tasks: list[EngineTask] = field(default_factory=list)
    records_error: str | None = None  # set by the driver when records() raised: the engine could not report
