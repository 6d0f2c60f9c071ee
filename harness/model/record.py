"""The run record: what `run.json` holds, as typed models, and how an older or broken file is read.

The driver builds a RunRecord and the recorder writes it; the report, the claims and the tests
read it back through `load_record`, never by string keys. `schema_version` says which shape a file
has: version 1 (dict literals, before this module) is migrated on load, anything else unknown is
refused by name, and a malformed file gets one line naming the file and the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, Field, ValidationError

from harness.model.errors import BenchError, field_path
from harness.model.fault_record import FaultOutcome
from harness.model.load_record import LoadResult as LoadResult
from harness.model.load_record import LoadStep as LoadStep
from harness.model.load_record import ServiceLoad as ServiceLoad
from harness.model.record_base import LatencySummary as LatencySummary
from harness.model.record_base import OptionalFloat, _Model
from harness.model.record_base import Spread as Spread
from harness.model.record_v1 import migrate_v1

SCHEMA_VERSION = 2
KNOWN_VERSIONS = (1, 2)

RunStatus = Literal["running", "complete", "failed", "interrupted"]
DeploymentKind = Literal["production", "development", "external", "in-process"]


# -- who and where -------------------------------------------------------------------------------
class Machine(_Model):
    """The machine as pyperf describes it; CPU frequency and governor only where /sys exposes them."""

    cpu_model: str
    logical_cores: int | None
    physical_cores: int | None
    ram_bytes: int
    os: str
    kernel: str
    python: str
    ci: bool
    cpu_governor: str | None = None  # scaling governor of cpu0 (performance, powersave, ...)
    cpu_driver: str | None = None  # scaling driver of cpu0 (acpi-cpufreq, intel_pstate, ...)
    cpu_freq_mhz: float | None = None  # current frequency of cpu0 when the run started
    cpu_freq_max_mhz: float | None = None
    load_avg_1m: float | None = None  # when the run started


class HarnessRevision(_Model):
    git_sha: str | None
    dirty: bool | None


class WorkloadRef(_Model):
    name: str
    hash: str
    spec: dict[str, Any]  # the workload as run (after --runs/--repetitions overrides)


REPLICA_SUFFIX = re.compile(r"-[0-9]+$")  # a replica's suffix: 'history-2', 'frontend-1'


def component_of(service: str) -> str:
    """The component a service is an instance of: its name without a replica suffix."""
    return REPLICA_SUFFIX.sub("", service)


class ServiceRef(_Model):
    name: str
    role: str  # server | database | queue | worker | oneshot | balancer | unrecorded


class DeploymentShape(_Model):
    """What was measured, so a run is judged by what it recorded, never by today's stack files."""

    kind: DeploymentKind
    backend: str  # native | compose | external | in-process
    variant: str  # the native stack's variant; else the backend's name
    description: str = ""
    services: list[ServiceRef] = Field(default_factory=list)
    # Whether this was the stack's default variant, for choosing one run per platform in the
    # claims. None: the stack has no variants (compose, external), or the record predates this.
    default_variant: bool | None = None
    # Whether this was the variant the vendor's guide documents for production (claims about how a
    # platform is deployed prefer such runs). None: not a native variant, or the record predates this.
    vendor_production: bool | None = None


class Setting(_Model):
    value: Any
    default: Any
    why: str


# -- what happened -------------------------------------------------------------------------------
class Setup(_Model):
    """Seconds for each setup step; None (or absent) where the backend has no such step."""

    install_s: float | None = None
    install_cached: bool | None = None
    first_install_s: float | None = None
    footprint_bytes: int | None = None
    pull_s: float | None = None
    images: dict[str, int] = Field(default_factory=dict)  # compose: image -> bytes
    start_to_ready_s: float | None = None
    services_ready_s: dict[str, float] = Field(default_factory=dict)
    external_metrics: list[str] = Field(default_factory=list)
    deploy_s: float | None = None
    long_running_services: int | None = None
    ready_to_first_task_s: float | None = None


class Phase(_Model):
    name: str
    start_ns: int
    end_ns: int | None = None


class EngineAnomalies(_Model):
    """How far the engine's own bookkeeping can be trusted; the stamps decide correctness."""

    missing_record: int = 0
    missing_start: int = 0
    out_of_order: int = 0
    status_mismatch: int = 0

    def unusable(self) -> int:
        """Tasks left out of the engine latencies (a status mismatch is about workflows)."""
        return self.missing_record + self.missing_start + self.out_of_order


class BusyProcess(_Model):
    name: str
    pid: int
    cpu_pct: float  # % of one core over the repetition


class MachineState(_Model):
    """The machine during one repetition: was something else competing for it?"""

    duration_s: float
    load_avg_1m_start: float | None
    load_avg_1m_end: float | None
    steal_pct: float | None  # CPU steal time, % of all CPU time over the repetition
    busy_processes: list[BusyProcess] = Field(default_factory=list)
    busy: bool = False
    busy_reason: str | None = None


class Repetition(_Model):
    repetition: int
    phase: str
    warmup: bool
    status: Literal["ok", "failed"]
    reasons: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    tasks_expected: int | None = None  # None for the idle workload
    tasks_completed: int | None = None
    duplicates: int | None = None
    engine_anomalies: EngineAnomalies | None = None
    window_s: float | None = None
    throughput_tasks_per_s: float | None = None
    machine_state: MachineState | None = None
    fault: FaultOutcome | None = None  # fault workloads: what the fault did (harness/analysis/faults.py)


class SamplerStats(_Model):
    hz: float
    ticks: int
    late_ticks: int
    own_cpu_s: float
    wall_s: float


# -- summaries -----------------------------------------------------------------------------------
class ResourceSummaryRow(_Model):
    kind: str  # idle | warmup | measured | start | stop | ...
    service: str
    role: str
    cpu_mean_pct: OptionalFloat = None
    cpu_p95_pct: OptionalFloat = None
    cpu_max_pct: OptionalFloat = None
    rss_mean_mb: OptionalFloat = None
    rss_p95_mb: OptionalFloat = None
    rss_max_mb: OptionalFloat = None
    pss_mean_mb: OptionalFloat = None  # None where PSS is not sampled (containers, Prometheus)
    pss_max_mb: OptionalFloat = None
    samples: int


class Summary(_Model):
    measured_repetitions_ok: int
    measured_repetitions_failed: int
    latency_ms: dict[str, LatencySummary | None]  # keyed by analysis.LATENCY_METRICS
    submit_to_first_start_p50_by_repetition_ms: Spread | None
    throughput_tasks_per_s: Spread | None
    engine_anomalies: EngineAnomalies
    resources: list[ResourceSummaryRow] = Field(default_factory=list)
    busy_repetitions: list[int] = Field(default_factory=list)  # measured while the machine was busy


class RunRecord(_Model):
    schema_version: Literal[2] = SCHEMA_VERSION
    migrated_from_schema: int | None = None  # set when read from an older file, never written by a run
    run_id: str
    platform: str
    status: RunStatus = "running"
    error: str | None = None
    started_at: AwareDatetime  # UTC; aware, so runs from anywhere compare
    finished_at: AwareDatetime | None = None
    machine: Machine
    harness: HarnessRevision
    backend: str
    backend_requested: str | None = None
    workload: WorkloadRef
    deployment: DeploymentShape
    settings: dict[str, Setting] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    endpoints: dict[str, str] = Field(default_factory=dict)
    # "<service> <tcp|udp> <address> (<why>)": what the stack listened on beyond loopback, declared
    beyond_loopback: list[str] = Field(default_factory=list)
    wait_poll_s: float | None = None  # the adapter's wait() poll interval; None: long-poll or stream
    setup: Setup = Field(default_factory=Setup)
    phases: list[Phase] = Field(default_factory=list)
    repetitions: list[Repetition] = Field(default_factory=list)
    sampler: SamplerStats | None = None
    summary: Summary | None = None
    summary_error: str | None = None
    stop_error: str | None = None
    load: LoadResult | None = None  # rate sweeps only

    def ok_measured(self) -> set[int]:
        """Measured repetitions that passed validation: the only ones any statistic uses."""
        return {r.repetition for r in self.repetitions if not r.warmup and r.status == "ok"}

    def busy_repetitions(self) -> list[Repetition]:
        return [r for r in self.repetitions if r.machine_state is not None and r.machine_state.busy]


# -- reading -------------------------------------------------------------------------------------
def load_record(path: Path) -> RunRecord:
    """A run.json as a RunRecord; BenchError (one line: file and field) when it cannot be one."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as err:
        raise BenchError(f"{path}: cannot read: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BenchError(f"{path}: malformed JSON: {_first_line(err)}") from None
    return record_from_doc(doc, path)


def record_from_doc(doc: Any, path: Path | str) -> RunRecord:
    if not isinstance(doc, dict):
        raise BenchError(f"{path}: not a run record (a JSON object is expected, found {type(doc).__name__})")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in KNOWN_VERSIONS:  # JSON true == 1 in Python
        found = "no schema_version" if version is None else f"schema_version {version!r}"
        raise BenchError(
            f"{path}: {found} is not one this harness reads (known: {', '.join(map(str, KNOWN_VERSIONS))})"
        )
    try:
        if version == 1:
            doc = migrate_v1(doc)
        return RunRecord.model_validate(doc)
    except ValidationError as err:
        raise BenchError(f"{path}: {validation_line(err)}") from None


def validation_line(err: ValidationError) -> str:
    """pydantic's first error as one line: the field's dotted path and what is wrong with it."""
    first = err.errors()[0]
    field = field_path(first["loc"])
    more = len(err.errors()) - 1
    line = f"field {field}: {first['msg']}"
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        line += f" (found {_short(first['input'])})"
    return line + (f"; and {more} more" if more else "")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
