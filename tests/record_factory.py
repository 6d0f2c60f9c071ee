"""Minimal valid run records for unit tests: every required field filled with plausible values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from harness.model.record import (
    DeploymentShape,
    EngineAnomalies,
    HarnessRevision,
    Machine,
    RunRecord,
    ServiceRef,
    Summary,
    WorkloadRef,
)

MACHINE = Machine(
    cpu_model="AMD EPYC",
    logical_cores=2,
    physical_cores=2,
    ram_bytes=24 * 2**30,
    os="Linux",
    kernel="6.1",
    python="3.11.7",
    ci=False,
)


def make_record(
    platform: str = "null",
    run_id: str = "r1",
    workload: str = "latency-probe",
    kind: str = "in-process",
    variant: str | None = None,
    **fields: Any,
) -> RunRecord:
    backend = fields.pop("backend", "native")
    shape = DeploymentShape(
        kind=kind,
        backend=backend,
        variant=variant or ("in-process" if kind == "in-process" else "default"),
        description=fields.pop("description", f"{platform} test stack"),
        services=[ServiceRef(name="server", role="server"), ServiceRef(name="worker", role="worker")],
        default_variant=fields.pop("default_variant", None),
    )
    return RunRecord(
        run_id=run_id,
        platform=platform,
        started_at=fields.pop("started_at", datetime.now(timezone.utc)),
        machine=MACHINE,
        harness=HarnessRevision(git_sha="0" * 40, dirty=False),
        backend=backend,
        workload=WorkloadRef(name=workload, hash=fields.pop("workload_hash", "f" * 16), spec={"name": workload}),
        deployment=shape,
        **fields,
    )


def empty_summary(**fields: Any) -> Summary:
    base: dict[str, Any] = dict(
        measured_repetitions_ok=0,
        measured_repetitions_failed=0,
        latency_ms={},
        submit_to_first_start_p50_by_repetition_ms=None,
        throughput_tasks_per_s=None,
        engine_anomalies=EngineAnomalies(),
    )
    return Summary(**{**base, **fields})


def around(value: float, rel: float = 0.02) -> list[float]:
    """Five runs' figures with a small spread, the newest first and equal to `value` (so is the median)."""
    return [value * (1 + rel * k) for k in (0, -1, 1, -2, 2)]


def runs_of(build: Callable[[Any], RunRecord], values: Iterable[Any]) -> list[RunRecord]:
    """Independent runs of one cell, newest first: build(value) for each, with its own run id and start."""
    start = datetime(2026, 1, 10, tzinfo=timezone.utc)
    out = []
    for i, value in enumerate(values):
        r = build(value)
        out.append(r.model_copy(update={"run_id": f"{r.run_id}-{i}", "started_at": start - timedelta(hours=i)}))
    return out
