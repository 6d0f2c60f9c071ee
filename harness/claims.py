"""The seed document's claims, each with the measurement that can support or contradict it.

A verdict is one of: supported, contradicted, inconclusive (measured, but the data cannot
decide), not measured (a platform or workload it needs has no complete run here), or
not testable (the claim compares against something this harness does not run).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .record import LatencySummary, ResourceSummaryRow, RunRecord, Summary


def seed_platforms() -> list[str]:
    """The seed document's platforms, from the registry (stacks/*/platform.yaml)."""
    from .platforms import seed_platforms as registered
    return registered()


@dataclass
class Verdict:
    verdict: str
    evidence: str


@dataclass(frozen=True)
class ClaimResult:
    """One claim with its verdict, as the report shows it."""
    id: str
    platform: str
    quote: str
    verdict: str
    evidence: str


@dataclass
class Claim:
    id: str
    platform: str
    quote: str
    evaluate: Callable[["Facts"], Verdict]


class Facts:
    """Read-only view of the latest complete run of each (platform, workload). Each record's
    `summary` is the one the report recomputed from the raw samples."""

    def __init__(self, cells: dict[tuple[str, str], RunRecord]):
        self.cells = cells
        self.seed = seed_platforms()

    def get(self, platform: str, workload: str) -> RunRecord | None:
        return self.cells.get((platform, workload))

    def summary(self, platform: str, workload: str) -> Summary | None:
        cell = self.get(platform, workload)
        return cell.summary if cell else None

    def latency(self, platform: str, workload: str, metric: str) -> LatencySummary | None:
        summary = self.summary(platform, workload)
        return summary.latency_ms.get(metric) if summary else None

    def idle_memory_mb(self, platform: str) -> float | None:
        """Mean memory of all the platform's services (servers, databases, workers) while idle:
        PSS where sampled (shared pages counted once), else RSS."""
        summary = self.summary(platform, "idle-60s")
        if not summary:
            return None
        rows = [r for r in summary.resources if r.kind == "idle" and r.role != "harness"]

        def memory(r: ResourceSummaryRow) -> float:
            return (r.pss_mean_mb if r.pss_mean_mb is not None else r.rss_mean_mb) or 0.0

        return sum(memory(r) for r in rows) if rows else None

    def measured(self, workload: str) -> list[str]:
        return [p for (p, w) in self.cells if w == workload and p in self.seed]

    def development_only(self, platform: str, workload: str) -> RunRecord | None:
        """The run, when what it measured was a development server (judged by its own record)."""
        cell = self.get(platform, workload)
        return cell if cell is not None and cell.deployment.kind == "development" else None


def _measured_on(f: Facts, platform: str, workload: str) -> str:
    cell = f.get(platform, workload)
    description = cell.deployment.description if cell else "?"
    cores = cell.machine.logical_cores if cell else None
    return f" (measured on: {description or '?'}; Python SDK worker; {cores} cores)"


def _sub_ms(f: Facts) -> Verdict:
    probe = f.latency("hatchet", "latency-probe", "submit_to_first_start")
    if not probe:
        return Verdict("not measured", "no complete latency-probe run of hatchet")
    engine = f.latency("hatchet", "latency-probe", "engine_queue_to_start")
    ev = f"submit -> task start p50 {probe.p50_ms:.3f} ms, p99 {probe.p99_ms:.3f} ms"
    if engine:
        ev += f"; engine queued -> started p50 {engine.p50_ms:.3f} ms"
    ev += _measured_on(f, "hatchet", "latency-probe")
    return Verdict("supported" if probe.p50_ms < 1 else "contradicted", ev)


def _thousands_per_s(f: Facts) -> Verdict:
    summary = f.summary("hatchet", "fanout-100-noop")
    if not summary:
        return Verdict("not measured", "no complete fanout-100-noop run of hatchet")
    tp = summary.throughput_tasks_per_s
    if tp is None:
        return Verdict("inconclusive", "fanout-100-noop of hatchet has no measured repetition that passed")
    ev = (f"fanout-100-noop: median {tp.median:.0f} tasks/s, best {tp.max:.0f}, over {tp.n} repetitions "
          f"(cv {tp.cv:.0%})" + _measured_on(f, "hatchet", "fanout-100-noop"))
    if tp.unstable and tp.min < 1000 <= tp.max:
        return Verdict("inconclusive", ev + "; the repetitions disagree too much to decide")
    return Verdict("supported" if tp.median >= 1000 else "contradicted", ev)


def _dev_only(f: Facts, platform: str, workload: str, evidence: str) -> Verdict | None:
    """A claim about how a platform is deployed cannot be settled on a single-process dev server."""
    if cell := f.development_only(platform, workload):
        return Verdict("inconclusive", f"{evidence}; but {platform} was measured only as "
                                       f"'{cell.deployment.description}', not the deployment the claim describes")
    return None


def _temporal_heavier(f: Facts) -> Verdict:
    rss = {p: f.idle_memory_mb(p) for p in f.seed}
    rss = {p: v for p, v in rss.items() if v is not None}
    if "temporal" not in rss:
        return Verdict("not measured", "no complete idle-60s run of temporal")
    others = {p: v for p, v in rss.items() if p != "temporal"}
    if not others:
        return Verdict("inconclusive", f"temporal idle RSS {rss['temporal']:.0f} MB; no other platform to compare")
    ev = "idle memory (PSS), all services: " + ", ".join(f"{p} {v:.0f} MB" for p, v in sorted(rss.items(), key=lambda kv: kv[1]))
    if dev := _dev_only(f, "temporal", "idle-60s", ev):
        return dev
    return Verdict("supported" if rss["temporal"] > max(others.values()) else "contradicted", ev)


def _temporal_most_complex(f: Facts) -> Verdict:
    found = {p: f.get(p, "idle-60s") for p in f.seed}
    cells = {p: c for p, c in found.items() if c is not None}
    if "temporal" not in cells or len(cells) < 2:
        return Verdict("not measured" if "temporal" not in cells else "inconclusive",
                       "needs idle-60s runs of temporal and at least one other platform")
    parts = []
    for p, c in cells.items():
        s = c.setup
        parts.append(f"{p}: {s.long_running_services} services, start->ready {s.start_to_ready_s or 0:.1f} s")
    ev = "; ".join(parts)
    if dev := _dev_only(f, "temporal", "idle-60s", ev):
        return dev
    services = {p: c.setup.long_running_services or 0 for p, c in cells.items()}
    return Verdict("supported" if services["temporal"] > max(v for p, v in services.items() if p != "temporal")
                   else "contradicted", ev)


def _resource_ranking(f: Facts) -> Verdict:
    """The comparison matrix: Hatchet low, Prefect moderate, Temporal high (Kestra and Windmill moderate)."""
    expected = ["hatchet", "prefect", "temporal"]
    mem = {p: f.idle_memory_mb(p) for p in f.seed}
    measured = [p for p in expected if mem.get(p) is not None]
    if len(measured) < 2:
        return Verdict("not measured", "needs idle-60s runs of at least two of hatchet, prefect, temporal")
    ev = "idle memory (PSS), all services: " + ", ".join(f"{p} {mem[p]:.0f} MB" for p in sorted(measured, key=mem.get))
    devs = [p for p in measured if f.development_only(p, "idle-60s")]
    if devs:
        return Verdict("inconclusive", f"{ev}; {', '.join(devs)} measured only as a development server")
    in_order = all(mem[a] < mem[b] for a, b in zip(measured, measured[1:]))
    return Verdict("supported" if in_order else "contradicted", ev + f" (claimed order: {' < '.join(measured)})")


def _not_yet(what: str) -> Callable[[Facts], Verdict]:
    return lambda f: Verdict("not measured", what)


CLAIMS = [
    Claim("hatchet-sub-ms", "hatchet", "Ultra-low latency: optimized for sub-millisecond task scheduling", _sub_ms),
    Claim("hatchet-thousands-per-s", "hatchet", "High throughput: designed for thousands of tasks per second",
          _thousands_per_s),
    Claim("temporal-higher-resources", "temporal", "Temporal: higher resource requirements for reliability",
          _temporal_heavier),
    Claim("temporal-most-complex", "temporal", "Temporal: most complex - multi-service architecture",
          _temporal_most_complex),
    Claim("resource-ranking", "all", "Resource requirements: Hatchet low, Prefect moderate, Temporal high",
          _resource_ranking),
    Claim("windmill-13x-airflow", "windmill", "Performance: claims 13x faster than Airflow",
          lambda f: Verdict("not testable", "Airflow is not benchmarked by this harness; Windmill runs only "
                                            "under Docker Compose and is compared here with the other four instead")),
    Claim("stateless-workers", "prefect", "Stateless workers: workers can be easily replaced",
          _not_yet("needs a worker-replacement experiment (kill a worker mid-run, measure recovery); not built yet")),
]


def evaluate(cells: dict[tuple[str, str], RunRecord]) -> list[ClaimResult]:
    """Every claim's verdict over one run per (platform, workload), each carrying its summary."""
    facts = Facts(cells)
    out = []
    for claim in CLAIMS:
        try:
            v = claim.evaluate(facts)
        except (KeyError, TypeError, AttributeError) as err:  # a summary without a figure the claim needs
            v = Verdict("inconclusive", f"incomplete data: {err}")
        out.append(ClaimResult(id=claim.id, platform=claim.platform, quote=claim.quote,
                               verdict=v.verdict, evidence=v.evidence))
    return out
