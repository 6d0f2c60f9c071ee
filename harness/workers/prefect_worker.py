"""Prefect worker: serves the benchmark flow as a deployment, the way `flow.serve()` does.

The runner polls the API for scheduled flow runs every BENCH_PREFECT_POLL_S seconds and runs
each flow run in a subprocess; tasks run inside the flow run on Prefect's default task runner.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from harness.workers.taskbody import run_task


@task(name="bench-task", task_run_name="t-{index}")
def bench_task(workflow_id: str, index: int, op: str, n: int) -> int:
    start = time.time_ns()
    return run_task(workflow_id, index, op, n, start)


# The workload's slots (BENCH_SLOTS), where it sets them, bound the tasks running at once inside a flow
# run. Read at import: the runner starts each flow run in a new process that imports this module
# again with the runner's environment; None keeps Prefect's default task runner.
SLOTS = int(os.environ["BENCH_SLOTS"]) if os.environ.get("BENCH_SLOTS") else None


@flow(name="bench-flow", task_runner=ThreadPoolTaskRunner(max_workers=SLOTS) if SLOTS else None)
def bench_flow(workflow_id: str, shape: str, tasks: int, op: str, n: int) -> int:
    if shape == "chain":
        for i in range(tasks):
            bench_task(workflow_id, i, op, n)
    else:
        futures = [bench_task.submit(workflow_id, i, op, n) for i in range(tasks)]
        done = wait(futures)
        for f in done.done:
            f.result()
    return tasks


def main() -> None:
    from prefect.runner import Runner  # lazy: the SDK (seconds to import); loaded by the run that uses it

    limit = {"limit": SLOTS} if SLOTS else {}  # else Prefect's default process limit
    runner = Runner(
        name=os.environ["BENCH_DEPLOYMENT"], query_seconds=float(os.environ["BENCH_PREFECT_POLL_S"]), **limit
    )
    runner.add_flow(bench_flow, name=os.environ["BENCH_DEPLOYMENT"])
    Path(os.environ["BENCH_READY_FILE"]).touch()
    asyncio.run(runner.start())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
