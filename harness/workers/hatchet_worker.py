"""Hatchet worker: the workload as one DAG workflow (a chain of parents, or independent tasks).

Configured through BENCH_* variables (token, addresses, workload shape); the
workflow's shape and size come from the run's workload, so each task is a real engine task.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from hatchet_sdk import Context, Hatchet
from pydantic import BaseModel

from harness.workers.taskbody import run_task


class BenchInput(BaseModel):
    workflow_id: str
    op: str
    n: int


def build(hatchet: Hatchet, name: str, shape: str, tasks: int, timeout_s: float):
    wf = hatchet.workflow(name=name, input_validator=BenchInput)
    declared = []
    # tasks >= 1 always: for the idle workload the driver deploys a one-task no-op chain.
    for i in range(tasks):

        def body(input: BenchInput, ctx: Context, i: int = i) -> dict:
            start = time.time_ns()
            run_task(input.workflow_id, i, input.op, input.n, start)
            return {}

        parents = [declared[-1]] if shape == "chain" and declared else []
        declared.append(wf.task(name=f"t{i}", parents=parents, execution_timeout=timedelta(seconds=timeout_s))(body))
    return wf


def client(token: str, grpc: str, api: str) -> Hatchet:
    """A client configured explicitly, with TLS off for loopback gRPC."""
    from hatchet_sdk import ClientConfig  # lazy: the SDK
    from hatchet_sdk.config import ClientTLSConfig  # lazy: the SDK

    return Hatchet(
        config=ClientConfig(token=token, host_port=grpc, server_url=api, tls_config=ClientTLSConfig(strategy="none"))
    )


def main() -> None:
    hatchet = client(
        os.environ["BENCH_HATCHET_TOKEN"], os.environ["BENCH_HATCHET_GRPC"], os.environ["BENCH_HATCHET_API"]
    )
    wf = build(
        hatchet,
        os.environ["BENCH_WORKFLOW"],
        os.environ["BENCH_SHAPE"],
        int(os.environ["BENCH_TASKS"]),
        float(os.environ["BENCH_TIMEOUT_S"]),
    )
    worker = hatchet.worker(os.environ["BENCH_WORKFLOW"], slots=int(os.environ["BENCH_SLOTS"]), workflows=[wf])
    worker.start()


if __name__ == "__main__":
    main()
