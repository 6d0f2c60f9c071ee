"""`make ceiling`: the load generator's own ceiling, against the null server.

The highest offered rate each Locust worker process sustains with intended-vs-actual send lag
p99 < 1 ms, no errors, found by steps up a ladder of rates (then halving the gap between the last
rate kept up with and the first one missed). Every step tried is kept, with the machine's state
during it (harness.store.machine.RepetitionProbe): on a shared machine a missed step may be someone
else's load, and the record says so. Goal on the 2-core reference machine: >= 10,000/s per worker.

`python -m harness.load.ceiling [--workers N] [--duration S] [--warmup S] [--rates R,R,...]`
prints the figures and writes results/load/ceiling/<time>.json; `latest()` reads the newest, which
every load result records beside its own figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psutil
from pydantic import BaseModel, ConfigDict

from harness.load.generator import StepResult, describe_setup, run_step
from harness.load.null_server import NullServer
from harness.load.schedule import LAG_P99_LIMIT_MS, HttpTarget, Step
from harness.model.errors import BenchError
from harness.model.paths import RESULTS_DIR
from harness.model.record import LatencySummary, Machine, MachineState
from harness.store.machine import RepetitionProbe, machine

GOAL_PER_WORKER_PER_S = 10_000
LADDER_PER_WORKER = (1000, 2000, 4000, 6000, 8000, 10_000, 12_000, 15_000, 20_000, 25_000, 30_000, 40_000)
REFINE_STEPS = 2
CEILING_DIR = RESULTS_DIR / "load" / "ceiling"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CeilingStep(_Model):
    offered_per_s: float
    per_worker_per_s: float
    kept_up: bool
    lag_ms: LatencySummary | None
    late: int
    errors: int
    sent_per_s: float
    acked_per_s: float
    latency_from_send_ms: LatencySummary | None
    worker_cpu_us_per_submission: float | None  # where the time goes: the generator's CPU ...
    server_cpu_us_per_submission: float | None  # ... and the null server's, per submission
    senders: int  # connections the workers opened, all together
    machine_state: MachineState
    worker_reports: dict = {}


class Ceiling(_Model):
    workers: int
    per_worker_per_s: float | None  # the highest rate kept up with, per worker; None if none was
    total_per_s: float | None
    goal_per_worker_per_s: float = GOAL_PER_WORKER_PER_S
    lag_p99_limit_ms: float = LAG_P99_LIMIT_MS
    duration_s: float
    warmup_s: float
    measured_at: datetime
    machine: Machine
    # how the worker processes (and the CPUs while they sent: cpu_idle.IdlePoll) and the null server
    # were scheduled (SCHED_FIFO where allowed)
    worker_scheduling: str | None = None
    null_server_scheduling: str | None = None
    steps: list[CeilingStep]


def measure_ceiling(
    workers: int = 1,
    ladder_per_worker: tuple[float, ...] = LADDER_PER_WORKER,
    duration_s: float = 5.0,
    warmup_s: float = 1.0,
    refine: int = REFINE_STEPS,
    out_dir: Path | None = None,
) -> Ceiling:
    """Highest rate with lag p99 < 1 ms per worker, plus every step tried."""
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        work = Path(out_dir or tmp)
        steps: list[CeilingStep] = []
        with NullServer(work, realtime=True) as server:

            def attempt(per_worker: float) -> bool:
                steps.append(_attempt(server, work, per_worker, workers, duration_s, warmup_s, len(steps)))
                return steps[-1].kept_up

            best = search_ceiling(attempt, ladder_per_worker, refine)
            setups = sorted({describe_setup(s.worker_reports) or "unknown" for s in steps})
    return Ceiling(
        workers=workers,
        per_worker_per_s=best,
        total_per_s=best * workers if best else None,
        duration_s=duration_s,
        warmup_s=warmup_s,
        measured_at=datetime.now(timezone.utc),
        machine=machine(),
        worker_scheduling=" | ".join(setups) or None,
        null_server_scheduling=server.scheduling,
        steps=steps,
    )


def search_ceiling(attempt: Callable[[float], bool], ladder: tuple[float, ...], refine: int) -> float | None:
    """Up the ladder until a rate is missed, then halve the gap `refine` times (to 100/s)."""
    best, missed = None, None
    for rate in ladder:
        if not attempt(rate):
            missed = rate
            break
        best = rate
    for _ in range(refine if missed is not None else 0):
        middle = round(((best or 0) + missed) / 2, -2)
        if middle in (best, missed) or middle <= 0:
            break
        if attempt(middle):
            best = middle
        else:
            missed = middle
    return best


def _attempt(
    server: NullServer, work: Path, per_worker: float, workers: int, duration_s: float, warmup_s: float, n: int
) -> CeilingStep:
    step = Step(rate_per_s=per_worker * workers, duration_s=duration_s, warmup_s=warmup_s)
    target = HttpTarget(base_url=server.base_url, path="/runs/{workflow_id}", body={"id": "{workflow_id}"})
    server_proc = psutil.Process(server.pid)
    probe = RepetitionProbe()
    probe.begin()
    server_cpu0 = sum(server_proc.cpu_times()[:2])
    result = run_step(target, step, f"ceiling{n}", work / f"step-{n}", workers=workers)
    server_cpu = sum(server_proc.cpu_times()[:2]) - server_cpu0
    state = probe.end()
    return _step_figures(result, per_worker, server_cpu, state)


def _step_figures(r: StepResult, per_worker: float, server_cpu_s: float, state: MachineState) -> CeilingStep:
    n = len(r.records)
    worker_cpu = sum(float(rep.get("cpu_s", 0)) for rep in r.worker_reports.values())
    kept_up = r.generator_kept_up and r.errors == 0 and r.sent_per_s >= 0.99 * r.offered_per_s
    return CeilingStep(
        offered_per_s=r.offered_per_s,
        per_worker_per_s=per_worker,
        kept_up=kept_up,
        lag_ms=r.lag_ms,
        late=r.late,
        errors=r.errors,
        sent_per_s=r.sent_per_s,
        acked_per_s=r.acked_per_s,
        latency_from_send_ms=r.latency_from_send_ms,
        worker_cpu_us_per_submission=1e6 * worker_cpu / n if n else None,
        server_cpu_us_per_submission=1e6 * server_cpu_s / n if n else None,
        senders=sum(int(rep.get("senders", 0)) for rep in r.worker_reports.values()),
        machine_state=state,
        worker_reports=r.worker_reports,
    )


def save(ceiling: Ceiling, root: Path = CEILING_DIR) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{ceiling.measured_at:%Y%m%dT%H%M%SZ}-w{ceiling.workers}.json"
    path.write_text(ceiling.model_dump_json(indent=2))
    return path


def latest(root: Path = CEILING_DIR, workers: int | None = None) -> Ceiling | None:
    """The newest ceiling measured (with `workers` worker processes, if given), or None."""
    paths = sorted(root.glob("*.json"), reverse=True) if root.is_dir() else []
    for path in paths:
        found = Ceiling.model_validate_json(path.read_text())
        if workers is None or found.workers == workers:
            return found
    return None


def report_lines(c: Ceiling) -> list[str]:
    lines = [
        f"{'offered/s':>10} {'per worker':>10} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'late':>6} "
        f"{'errors':>6} {'acked/s':>9} {'gen us':>7} {'srv us':>7} {'busy':>5}  verdict"
    ]
    for s in c.steps:
        lag = s.lag_ms
        lines.append(
            f"{s.offered_per_s:>10.0f} {s.per_worker_per_s:>10.0f} {_ms(lag and lag.p50_ms):>8} "
            f"{_ms(lag and lag.p99_ms):>8} {_ms(lag and lag.max_ms):>8} {s.late:>6} {s.errors:>6} "
            f"{s.acked_per_s:>9.0f} {_num(s.worker_cpu_us_per_submission):>7} "
            f"{_num(s.server_cpu_us_per_submission):>7} "
            f"{'yes' if s.machine_state.busy else 'no':>5}  {'kept up' if s.kept_up else 'MISSED'}"
        )
    figure = f"{c.per_worker_per_s:,.0f}" if c.per_worker_per_s else "none"
    if c.steps and all(s.kept_up for s in c.steps):
        figure = f">= {figure} (the top of the ladder: a lower bound)"
    met = c.per_worker_per_s is not None and c.per_worker_per_s >= c.goal_per_worker_per_s
    lines.append(
        f"generator ceiling with {c.workers} Locust worker process(es): {figure} submissions/s per worker "
        f"with send lag p99 < {c.lag_p99_limit_ms:g} ms (goal >= {c.goal_per_worker_per_s:,.0f}: "
        f"{'met' if met else 'MISSED'}); machine: {c.machine.cpu_model}, {c.machine.logical_cores} cores, "
        f"load {_ms(c.machine.load_avg_1m)}; workers {c.worker_scheduling}, null server {c.null_server_scheduling}"
    )
    return lines


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"  # also the load average: three decimals, as /proc prints it


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="harness.load.ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--rates",
        default=",".join(str(r) for r in LADDER_PER_WORKER),
        help="ladder of rates per worker, comma-separated",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        ceiling = measure_ceiling(
            args.workers, tuple(float(r) for r in args.rates.split(",")), args.duration, args.warmup
        )
    except BenchError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
    print("\n".join(report_lines(ceiling)))
    print(f"written to {save(ceiling)} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
