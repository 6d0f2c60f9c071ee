"""Temporal worker: one generic workflow (chain or fan-out of the benchmark task) and its activity.

Runs as its own process from the platform's environment; configured through BENCH_* variables.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from harness.workers.taskbody import run_task

# Sync activities need an executor; sized for the widest fan-out unless the workload sets the worker's
# slots (BENCH_SLOTS), which then bound both the threads and the activities the worker takes at once.
ACTIVITY_THREADS = int(os.environ.get("BENCH_SLOTS", "100"))


@activity.defn(name="bench_task")
def bench_task(workflow_id: str, index: int, op: str, n: int) -> int:
    start = time.time_ns()
    return run_task(workflow_id, index, op, n, start)


@workflow.defn(name="BenchWorkflow")
class BenchWorkflow:
    @workflow.run
    async def run(self, params: dict) -> int:
        timeout = timedelta(seconds=params.get("task_timeout_s", 600))

        def call(i: int):
            return workflow.execute_activity(
                bench_task,
                args=[params["workflow_id"], i, params["op"], params["n"]],
                activity_id=str(i),
                start_to_close_timeout=timeout,
            )

        if params["shape"] == "chain":
            for i in range(params["tasks"]):
                await call(i)
        else:
            await asyncio.gather(*(call(i) for i in range(params["tasks"])))
        return params["tasks"]


async def main() -> None:
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], namespace=os.environ["TEMPORAL_NAMESPACE"])
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = Worker(
            client,
            task_queue=os.environ["BENCH_TASK_QUEUE"],
            workflows=[BenchWorkflow],
            activities=[bench_task],
            activity_executor=executor,
            max_concurrent_activities=ACTIVITY_THREADS,
        )
        async with worker:
            Path(os.environ["BENCH_READY_FILE"]).touch()
            await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
