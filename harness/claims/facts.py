"""What the results can say about a platform: its latest complete run of a workload, judged by the
deployment that run recorded, and when there is none, exactly what is missing and how to measure it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from harness.claims.metrics import METRICS, Figure, idle_rows
from harness.model.record import LatencySummary, RunRecord, Summary, component_of
from harness.model.registry import platforms
from harness.model.registry import seed_platforms as registered
from harness.model.spec import available

DEPLOYED = ("production", "external")  # shapes a claim about how a platform is deployed can be judged on


class Incomplete(Protocol):
    """A run that did not complete (report.IncompleteRun has these fields)."""

    platform: str
    workload: str
    run_id: str
    status: str
    error: str


@dataclass(frozen=True)
class Found:
    """The run a claim is judged on for one platform and workload, or why there is none."""

    record: RunRecord | None
    problem: str = ""  # when record is None: what is missing, and the command that measures it
    dev: bool = False  # the run measured a development server where a deployment is claimed
    runs: tuple[RunRecord, ...] = ()  # every run of the record's cell, newest first (record first)


@dataclass
class Pick:
    """The first of a claim's measures that a usable run speaks to, for one platform."""

    figure: Figure | None = None
    record: RunRecord | None = None
    workload: str = ""
    metric: str = ""
    dev: bool = False
    skipped: list[str] = field(default_factory=list)  # measures preferred over the one used, and why not
    values: list[float] = field(default_factory=list)  # the figure in each run of the cell, newest first
    runs: list[RunRecord] = field(default_factory=list)  # those runs

    @property
    def missing(self) -> str:
        return "; ".join(self.skipped)


def seed_platforms() -> list[str]:
    """The seed document's platforms, from the registry (stacks/*/platform.yaml)."""
    return registered()


class Facts:
    """Read-only view of the latest complete run of each (platform, workload). Each record's `summary`
    is the one the report recomputed from the raw samples. Runs that are not complete are kept aside,
    only to say why a claim is not measured: no claim is ever decided on one."""

    def __init__(
        self,
        cells: dict[tuple[str, str], RunRecord],
        incomplete: Iterable[Incomplete] = (),
        planned_platforms: dict[str, str] | None = None,
        planned_workloads: dict[str, str] | None = None,
        series: dict[tuple[str, str], list[RunRecord]] | None = None,
    ):
        self.cells = {k: r for k, r in cells.items() if r.status == "complete"}
        # every complete run behind each cell's figure (one stack lifecycle each), newest first
        self.series = {
            k: [r for r in (series or {}).get(k, [c]) if r.status == "complete"] for k, c in self.cells.items()
        }
        latest: dict[tuple[str, str], Incomplete | RunRecord] = {}
        for key, run in [
            *((k, r) for k, r in cells.items() if r.status != "complete"),
            *(((i.platform, i.workload), i) for i in incomplete),
        ]:
            if key not in latest or run.run_id > latest[key].run_id:  # run ids begin with their UTC start
                latest[key] = run
        # the runs of every stack each (platform, workload) was measured on (store/cells.ClaimSeries)
        self.variants = {
            k: [runs for rs in cells_runs if (runs := [r for r in rs if r.status == "complete"])]
            for k, cells_runs in getattr(series, "variants", {}).items()
        }
        self.failed = {k: f"run {r.run_id} {r.status}" + (f": {r.error}" if r.error else "") for k, r in latest.items()}
        self.registry = platforms()
        self.seed = seed_platforms()
        self.planned_platforms = planned_platforms or {}
        self.planned_workloads = planned_workloads or {}

    # -- the views the report and older tests use --------------------------------------------------
    def get(self, platform: str, workload: str) -> RunRecord | None:
        return self.cells.get((platform, workload))

    def summary(self, platform: str, workload: str) -> Summary | None:
        cell = self.get(platform, workload)
        return cell.summary if cell else None

    def latency(self, platform: str, workload: str, metric: str) -> LatencySummary | None:
        summary = self.summary(platform, workload)
        return summary.latency_ms.get(metric) if summary else None

    def idle_memory_mb(self, platform: str) -> float | None:
        """Mean memory of all the platform's services while idle: PSS where sampled, else RSS."""
        cell = self.get(platform, "idle-60s")
        fig = METRICS["idle_memory_mb"].read(cell) if cell and idle_rows(cell) else None
        return fig.value if fig else None

    def measured(self, workload: str) -> list[str]:
        return [p for (p, w) in self.cells if w == workload and p in self.seed]

    def development_only(self, platform: str, workload: str) -> RunRecord | None:
        """The run, when what it measured was not a deployment (judged by its own record)."""
        cell = self.get(platform, workload)
        return cell if cell is not None and cell.deployment.kind not in DEPLOYED else None

    # -- finding the run a claim is judged on ------------------------------------------------------
    def stand_ins(self, platform: str) -> list[str]:
        """Registered stacks that stand for a seed platform (temporal-dev for temporal)."""
        return [n for n, i in self.registry.items() if i.represents == platform and n != platform]

    def special(self, platform: str, workload: str, deployment: str, replicas: int | None) -> list[RunRecord]:
        """The runs a claim is judged on in preference to the default variant's: for a claim about
        failover, those of a stack with `replicas` instances of some server component; for one about a
        deployment, those of the variant the vendor documents for production. The newest such cell."""

        def fits(r: RunRecord) -> bool:
            if replicas:
                servers = Counter(component_of(s.name) for s in r.deployment.services if s.role == "server")
                return bool(servers) and max(servers.values()) >= replicas
            return deployment == "production" and bool(r.deployment.vendor_production)

        cells = [runs for runs in self.variants.get((platform, workload), []) if fits(runs[0])]
        return max(cells, key=lambda runs: runs[0].started_at, default=[])

    def find(self, platform: str, workload: str, deployment: str, replicas: int | None = None) -> Found:
        """The platform's own run; for a claim that is not about a deployment, else a stand-in's.
        A claim about a deployment is never judged on a stand-in, and a run that recorded a
        development server is returned marked, so the claim says it cannot decide."""
        if platform not in self.registry:
            why = self.planned_platforms.get(platform, "not registered")
            return Found(None, f"{platform} is not a platform of this harness yet ({why})")
        runs = self.special(platform, workload, deployment, replicas)
        if runs:
            return Found(runs[0], runs=tuple(runs))
        record = self.get(platform, workload)
        if record is not None:
            dev = deployment == "production" and record.deployment.kind not in DEPLOYED
            return Found(record, dev=dev, runs=tuple(self.series[(platform, workload)]))
        stand_ins = [(s, self.get(s, workload)) for s in self.stand_ins(platform)]
        stand_ins = [(s, r) for s, r in stand_ins if r is not None]
        if stand_ins and deployment == "any":
            s, r = stand_ins[0]
            return Found(r, runs=tuple(self.series[(s, workload)]))
        problem = f"no complete {workload} run of {platform}"
        if (platform, workload) in self.failed:
            problem += f" (the latest {self.failed[(platform, workload)]})"
        if stand_ins:
            s, r = stand_ins[0]
            problem += (
                f"; {s} was measured ({r.deployment.kind}: {r.deployment.description or r.deployment.variant}),"
                f" but the claim is about how {platform} is deployed"
            )
        return Found(None, f"{problem}: {self.command(platform, workload)}")

    def pick(self, platform: str, measures, deployment: str) -> Pick:
        """The first measure (in the claim's order of preference) a usable run has a figure for."""
        out = Pick()
        for m in measures:
            found = self.find(platform, m.workload, deployment)
            if found.record is None:
                out.skipped.append(found.problem)
                continue
            fig = METRICS[m.metric].read(found.record)
            if fig is None:
                out.skipped.append(
                    f"{platform} run {found.record.run_id} ({m.workload}) has no "
                    f"{METRICS[m.metric].label}: {self.command(platform, m.workload)}"
                )
                continue
            out.figure, out.record, out.workload, out.metric, out.dev = (
                fig,
                found.record,
                m.workload,
                m.metric,
                found.dev,
            )
            each = [(r, METRICS[m.metric].read(r)) for r in found.runs or (found.record,)]
            out.runs = [r for r, f in each if f is not None]
            out.values = [f.value for _, f in each if f is not None]
            return out
        return out

    def runs_of(self, platform: str, deployment: str) -> list[RunRecord]:
        """Every complete run of the platform, all the runs of each cell (for deployment 'any', else of a
        stand-in)."""
        own = [r for (p, _), runs in self.series.items() if p == platform for r in runs]
        if own or deployment == "production":
            return own
        return [r for (p, _), runs in self.series.items() if p in self.stand_ins(platform) for r in runs]

    def command(self, platform: str, workload: str, like: RunRecord | None = None) -> str:
        """The command that would measure it (on the stack variant of `like`, a run it would add to),
        and what it needs first."""
        info = self.registry.get(platform)
        if info is None:
            return f"add the platform ({self.planned_platforms.get(platform, 'not registered')})"
        cmd = f"make bench PLATFORM={platform} WORKLOAD={workload}"
        if like is not None and like.deployment.backend == "native" and like.deployment.default_variant is False:
            cmd += f" VARIANT={like.deployment.variant}"
        needs = []
        if not info.has_native and info.has_compose:
            cmd += " BACKEND=compose"
            needs.append("a Docker engine")
        if workload in self.planned_workloads and workload not in _workloads():
            needs.append(f"workloads/{workload}.yaml, {self.planned_workloads[workload]}")
        return f"`{cmd}`" + (f" (needs {'; '.join(needs)})" if needs else "")


def _workloads() -> list[str]:
    return available()


# -- how a run is described in a verdict ------------------------------------------------------------
def stack_label(record: RunRecord) -> str:
    shape = record.deployment
    if shape.kind == "in-process":
        return "in-process"
    return f"native {shape.variant}" if shape.backend == "native" else shape.backend


def conditions(record: RunRecord) -> str:
    """What a figure holds under: 'hatchet: native postgres stack (...), 1 worker'; cores: see conditions_of."""
    workers = sum(1 for s in record.deployment.services if s.role == "worker")
    what = record.deployment.description or record.deployment.kind
    return f"{record.platform}: {stack_label(record)} stack ({what}), {workers or 1} worker{'s' if workers > 1 else ''}"


def conditions_of(records: list[RunRecord]) -> str:
    """'on 2 cores: hatchet: native postgres stack (...), 1 worker; prefect: ...' (cores named once)."""
    if not records:
        return ""
    cores = sorted({str(r.machine.logical_cores) for r in records})
    parts = list(dict.fromkeys(conditions(r) for r in records))
    return f"on {'/'.join(cores)} cores: " + "; ".join(parts)


def measured_on(record: RunRecord) -> str:
    return (
        f" (measured on: {record.deployment.description or '?'}; Python SDK worker; "
        f"{record.machine.logical_cores} cores)"
    )


def machine(record: RunRecord) -> str:
    m = record.machine
    return f"{m.cpu_model}, {m.logical_cores} cores, {m.ram_bytes / 2**30:.0f} GiB, Python {m.python}"


def condition_fields(record: RunRecord) -> dict[str, str]:
    """What a figure was measured under, as fields: machine, stack, and the state it was taken in."""
    m, d, wl = record.machine, record.deployment, record.workload.spec
    if wl.get("shape") == "idle":
        state = f"idle, {wl.get('duration_s', 0):g} s after the deploy"
    elif wl.get("shape") == "sweep":
        state = "open-loop rate steps, each after the previous one drained"
    else:
        state = f"after {wl.get('warmup', 0)} warmup repetition(s), {wl.get('repetitions', '?')} measured per run"
    if wl.get("fault"):
        state += f"; fault {wl['fault'].get('scenario', '?')}"
    return {
        "cores": str(m.logical_cores),
        "memory": f"{m.ram_bytes / 2**30:.0f} GiB",
        "cpu": m.cpu_model,
        "stack": f"{stack_label(record)} ({d.kind}{': ' + d.description if d.description else ''})",
        "variant": f"{d.variant} ({'default' if d.default_variant else 'not the default'})"
        if d.default_variant is not None
        else d.variant,
        "state": state,
    }
