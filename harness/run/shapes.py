"""Which executor runs a workload: one per shape, a fault workload's repetitions with their fault."""

from __future__ import annotations

from harness.model.spec import Workload
from harness.run.fault import FaultRepetitions
from harness.run.idle import Idle
from harness.run.repetitions import Repetitions
from harness.run.session import Executor
from harness.run.sweep import Sweep

_BY_SHAPE: dict[str, type] = {"idle": Idle, "sweep": Sweep, "chain": Repetitions, "fanout": Repetitions}


def executor_for(workload: Workload) -> Executor:
    executor = _BY_SHAPE[workload.shape]
    if executor is Repetitions and workload.fault is not None:
        return FaultRepetitions()
    return executor()
