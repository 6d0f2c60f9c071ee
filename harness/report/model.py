"""The rows the report's tables are made of."""

from __future__ import annotations

from dataclasses import dataclass

from harness.model.record import EngineAnomalies, LatencySummary, RunRecord, Setup, Spread


@dataclass(frozen=True)
class LatencyRow:
    platform: str
    variant: str  # the stack label
    backend: str
    run_id: str
    ok: int
    failed: int
    lat: dict[str, LatencySummary | None]
    throughput: Spread | None
    p50_spread: Spread | None
    anomalies: EngineAnomalies
    busy: int  # measured repetitions taken while the machine was busy
    record: RunRecord


SETUP_TIMES = ("start_to_ready_s", "deploy_s", "ready_to_first_task_s")


@dataclass(frozen=True)
class SetupRow:
    platform: str
    variant: str
    runs: int
    latest: Setup  # the latest run's setup, for what is not a time
    times: dict[str, Spread | None]  # SETUP_TIMES over the runs shown

    @property
    def footprint_mb(self) -> float | None:
        return (self.latest.footprint_bytes or 0) / 2**20 or None
