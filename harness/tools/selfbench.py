"""`make harness-bench`: the harness's own overhead, printed as figures against its goals.

1. submit -> first line of the task body on the null platform (no server): what the driver and
   the stamping add to every latency it reports. Goal: p50 < 0.2 ms.
2. the resource sampler's own CPU at 5 Hz over a stack of real processes shaped like Hatchet's
   native stack (about 30 processes: 10 services of 3 processes each). Goal: < 1% of a core.

`python -m harness.tools.selfbench [RESULTS_DIR]`; `--sampler-only` skips the null-platform run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.model import spec
from harness.run.driver import RunOptions, run
from harness.run.sampler import ResourceSampler

# one service: a process with two children (PostgreSQL and Python workers fork; Go servers do not)
SLEEPER = (
    "import subprocess,sys,time; [subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)'])"
    " for _ in range(2)]; time.sleep(600)"
)


def overhead(results: Path | None) -> dict:
    wl = spec.Workload.model_validate({**spec.load("latency-probe").model_dump(), "runs": 500, "repetitions": 5})
    path = run(RunOptions("null", wl, results_root=results))
    doc = json.loads((path / "run.json").read_text())
    return {"run": str(path), **doc["summary"]["latency_ms"]["submit_to_first_start"]}


def sampler_cost(seconds: float = 20.0, services: int = 10, hz: float = 5.0) -> dict:
    # Plain process groups rather than a stack backend: this measures the sampler alone, over
    # services that are children of this process as a native stack's are.
    started = [subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True) for _ in range(services)]
    try:
        procs = {f"svc{i}": psutil.Process(p.pid) for i, p in enumerate(started)}
        deadline = time.monotonic() + 30
        while sum(len(p.children()) for p in procs.values()) < 2 * services and time.monotonic() < deadline:
            time.sleep(0.1)
        me = psutil.Process()
        count = 1 + sum(1 + len(p.children(recursive=True)) for p in procs.values())
        sampler = ResourceSampler(lambda: {**procs, "harness": me}, lambda: {n: "server" for n in procs}, hz=hz)
        sampler.start()
        time.sleep(seconds)
        sampler.stop()
    finally:
        for p in started:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return {
        "hz": hz,
        "processes": count,
        "ticks": sampler.ticks,
        "late_ticks": sampler.late_ticks,
        "cpu_pct_of_core": 100 * sampler.own_cpu_s / sampler.wall_s,
        "achieved_hz": sampler.ticks / sampler.wall_s,
    }


def main() -> None:
    args = sys.argv[1:]
    sampler_only = "--sampler-only" in args
    args = [a for a in args if a != "--sampler-only"]
    if not sampler_only:
        _print_overhead(overhead(Path(args[0]) if args else None))
    _print_sampler(sampler_cost())


def _print_overhead(o: dict) -> None:
    print(
        f"null platform submit -> task start, {o['count']} samples: p50 {o['p50_ms'] * 1000:.0f} us, "
        f"p90 {o['p90_ms'] * 1000:.0f} us, p99 {o['p99_ms'] * 1000:.0f} us, max {o['max_ms'] * 1000:.0f} us "
        f"(goal p50 < 200 us: {'met' if o['p50_ms'] < 0.2 else 'MISSED'}); raw samples in {o['run']}"
    )


def _print_sampler(s: dict) -> None:
    print(
        f"sampler at {s['hz']:.0f} Hz over {s['processes']} processes: {s['cpu_pct_of_core']:.2f}% of one core, "
        f"{s['achieved_hz']:.2f} Hz achieved, {s['late_ticks']} late ticks "
        f"(goal < 1%: {'met' if s['cpu_pct_of_core'] < 1 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
