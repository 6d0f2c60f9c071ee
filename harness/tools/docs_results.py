"""The docs' blocks generated from results/: the claims' verdict counts, a ranked summary per
dimension and how long each workload's run takes. The results are read once (reading them means
recomputing every summary from the raw samples, the slow part) and every block comes from that."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.claims import ClaimResult, counts, evaluate
from harness.claims.metrics import METRICS, Metric
from harness.claims.model import ClaimsFile
from harness.model import registry
from harness.model.record import RunRecord
from harness.store.cells import Cell, CellKey, IncompleteRun, claim_cells, claim_series, collect

# The headline's dimensions: (what, metric of harness/claims/metrics.py, workload).
DIMENSIONS = (
    ("setup: first launch -> every service ready", "setup.start_to_ready_s", "idle-60s"),
    ("idle memory (PSS), all services", "idle_memory_mb", "idle-60s"),
    ("idle CPU, all services", "idle_cpu_pct", "idle-60s"),
    ("latency: submit -> task start, p50", "submit_to_first_start.p50_ms", "latency-probe"),
    ("latency: submit -> task start, p99", "submit_to_first_start.p99_ms", "latency-probe"),
    ("40-task chain: submit -> done, p50", "workflow_e2e.p50_ms", "chain-40x-fib10"),
    ("maximum sustainable rate, no-op runs", "load.max_sustainable_per_s", "rate-sweep-noop"),
    ("CPU per task at that rate, all services", "load.cpu_ms_per_task", "rate-sweep-noop"),
)


@dataclass(frozen=True)
class ResultsView:
    """What the blocks need of results/, read once."""

    cells: dict[CellKey, Cell]
    incomplete: list[IncompleteRun]

    @classmethod
    def read(cls, results: Path) -> "ResultsView":
        cells, incomplete = collect(results)
        return cls(cells, incomplete)

    def verdicts(self, parsed: ClaimsFile) -> list[ClaimResult]:
        return evaluate(claim_cells(self.cells), self.incomplete, parsed, claim_series(self.cells))


def claims_counts(verdicts: list[ClaimResult]) -> str:
    """The count line `bench claims` prints, a table per verdict, and how many rest on 5 runs."""
    c = counts(verdicts)
    rows = "\n".join(f"| {v} | {n} |" for v, n in c.by_verdict.items())
    decided = [r for r in verdicts if r.verdict in ("supported", "contradicted", "inconclusive")]
    with_n = sum(1 for r in decided if r.evidence.n is not None and r.evidence.n >= 5)
    return (
        f"```\n{c.line()}\n```\n\n| verdict | claims |\n|---|---|\n{rows}\n\n"
        f"Of the {len(decided)} claims with a verdict, {with_n} rest on at least 5 independent runs "
        f"(or experiments) per figure.\n"
    )


def verdict_summary(verdicts: list[ClaimResult]) -> str:
    """One line: the counts, for the README's opening."""
    return counts(verdicts).line() + "\n"


def _median_of_runs(runs: list[RunRecord], metric: str) -> tuple[float, int, bool] | None:
    figures = [f for f in (METRICS[metric].read(r) for r in runs) if f is not None]
    if not figures:
        return None
    return statistics.median(f.value for f in figures), len(figures), any(f.lower_bound for f in figures)


def headline(view: ResultsView) -> str:
    """Per dimension, the measured platforms ranked best first: median over runs (n runs), the
    default stack of each; a development server is marked, the harness's null platform left out,
    and the platforms with no figure in any dimension named below the table."""
    series = claim_series(view.cells)
    kinds = {n: i.kind for n, i in registry.platforms().items()}
    rows, seen = [], set()
    for what, metric, workload in DIMENSIONS:
        found = _ranked(series, metric, workload, kinds)
        seen |= {f[0] for f in found}
        m = METRICS[metric]
        ranked = "<br>".join(
            f"{i}. {p}{' (dev)' if dev else ''} {'≥ ' if low else ''}{_shown(m, v)} (n={n})"
            for i, (p, v, n, low, dev) in enumerate(found, 1)
        )
        rows.append(f"| {what} | `{workload}` | {ranked or 'not measured'} |")
    missing = [n for n, k in kinds.items() if k != "harness" and n not in seen]
    note = f"\nNot measured in any of these dimensions yet: {', '.join(missing)}.\n" if missing else ""
    head = "| dimension | workload | ranked, best first (median over runs, n runs) |\n|---|---|---|\n"
    return head + "\n".join(rows) + "\n" + note


def _ranked(series: dict, metric: str, workload: str, kinds: dict[str, str]) -> list[tuple]:
    """(platform, median, n, lower bound, development server) per measured platform, best first."""
    found = []
    for (platform, w), runs in series.items():
        fig = _median_of_runs(runs, metric) if w == workload and kinds.get(platform) != "harness" else None
        if fig:
            found.append((platform, *fig, runs[0].deployment.kind == "development"))
    return sorted(found, key=lambda f: f[1], reverse=METRICS[metric].better == "higher")


def _shown(metric: Metric, value: float) -> str:
    """A figure short enough for a ranked line: milliseconds beyond a second in seconds."""
    if metric.unit != "ms":
        return metric.show(value)
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.{0 if value >= 10 else 1}f} ms"


def durations(view: ResultsView) -> str:
    """How long one `bench run` of each workload took here: median over its complete runs (started_at
    to finished_at in run.json), per platform."""
    names = [n for n, i in registry.platforms().items() if i.kind != "harness"]
    taken: dict[tuple[str, str], list[float]] = {}
    for (platform, _, workload), c in view.cells.items():
        for r in c.runs or [c.record]:
            if r.finished_at is not None:
                taken.setdefault((workload, platform), []).append((r.finished_at - r.started_at).total_seconds())
    shown = [p for p in names if any(p == q for _, q in taken)]
    workloads = sorted({w for w, _ in taken})
    head = "| workload | " + " | ".join(shown) + " |\n|---|" + "---|" * len(shown) + "\n"
    lines = [f"| `{w}` | " + " | ".join(_minutes(taken.get((w, p))) for p in shown) + " |" for w in workloads]
    standard = [w for w in workloads if not w.startswith(("fault-", "rate-sweep-"))]
    totals = [_suite_total(taken, standard, p) for p in shown]
    lines.append(f"| **`bench suite`** ({len(standard)} standard workloads, sum) | " + " | ".join(totals) + " |")
    return head + "\n".join(lines) + "\n"


def _suite_total(taken: dict[tuple[str, str], list[float]], standard: list[str], platform: str) -> str:
    runs = [taken.get((w, platform)) for w in standard]
    if not all(runs):
        return "–"
    return _minutes([sum(statistics.median(r) for r in runs if r)])


def _minutes(seconds: list[float] | None) -> str:
    if not seconds:
        return "–"
    s = statistics.median(seconds)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
