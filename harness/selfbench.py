"""`make harness-bench`: the harness's own overhead, printed as figures against its goals.

1. submit -> first line of the task body on the null platform (no server): what the driver and
   the stamping add to every latency it reports. Goal: p50 < 0.2 ms.
2. the resource sampler's own CPU at 5 Hz over a stack of real processes. Goal: < 1% of a core.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from . import spec
from .driver import RunOptions, run
from .sampler import ResourceSampler
from .stack.native import NativeStack
from .stack.service import ServiceSpec

SLEEPER = "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)']); time.sleep(600)"


def overhead(results: Path | None) -> dict:
    wl = spec.Workload.model_validate({**spec.load("latency-probe").model_dump(), "runs": 500, "repetitions": 5})
    path = run(RunOptions("null", wl, results_root=results))
    doc = json.loads((path / "run.json").read_text())
    return {"run": str(path), **doc["summary"]["latency_ms"]["submit_to_first_start"]}


def sampler_cost(seconds: float = 20.0, services: int = 4, hz: float = 5.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp, NativeStack(Path(tmp)) as stack:
        for i in range(services):
            stack.start(ServiceSpec(name=f"svc{i}", command=[sys.executable, "-c", SLEEPER]))
        time.sleep(0.5)
        me = psutil.Process()
        sampler = ResourceSampler(lambda: {**stack.processes(), "harness": me}, stack.roles, hz=hz)
        sampler.start()
        time.sleep(seconds)
        sampler.stop()
    return {"hz": hz, "processes": services * 2 + 1, "ticks": sampler.ticks, "late_ticks": sampler.late_ticks,
            "cpu_pct_of_core": 100 * sampler.own_cpu_s / sampler.wall_s,
            "achieved_hz": sampler.ticks / sampler.wall_s}


def main() -> None:
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    o = overhead(results)
    print(f"null platform submit -> task start, {o['count']} samples: p50 {o['p50_ms'] * 1000:.0f} us, "
          f"p90 {o['p90_ms'] * 1000:.0f} us, p99 {o['p99_ms'] * 1000:.0f} us, max {o['max_ms'] * 1000:.0f} us "
          f"(goal p50 < 200 us: {'met' if o['p50_ms'] < 0.2 else 'MISSED'}); raw samples in {o['run']}")
    s = sampler_cost()
    print(f"sampler at {s['hz']:.0f} Hz over {s['processes']} processes: {s['cpu_pct_of_core']:.2f}% of one core, "
          f"{s['achieved_hz']:.2f} Hz achieved, {s['late_ticks']} late ticks "
          f"(goal < 1%: {'met' if s['cpu_pct_of_core'] < 1 else 'MISSED'})")


if __name__ == "__main__":
    main()
