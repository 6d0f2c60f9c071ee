"""Airflow DAG file: the run's workload as one DAG, a chain of tasks or independent tasks (fan-out).

The adapter copies this file into the folder the DAG processor reads, beside a JSON file of the
same name holding the DAG's shape; the DAG processor parses it from there, and so does every task
process before it runs its task (Airflow 3's task runner loads the DAG from its file). It runs
with Airflow's own Python; harness.workers.taskbody (standard library only) is imported from the checkout
named in the JSON file. The words "airflow" and "dag" in this file let the DAG processor's safe
mode parse it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

CONFIG = json.loads(Path(__file__).with_suffix(".json").read_text())
sys.path.insert(0, CONFIG["harness_path"])

from airflow.providers.standard.operators.python import PythonOperator  # noqa: E402
from airflow.sdk import DAG, chain  # noqa: E402

from harness.workers.taskbody import StampSink, run_task  # noqa: E402

SINK = StampSink(CONFIG["stamps_dir"])  # opens its file on the first stamp, in the task's own process


def body(index: int):
    """Task `index`'s callable: its first statement is the start stamp; the run's conf says what to do."""

    def run(**context) -> None:
        start = time.time_ns()
        conf = context["dag_run"].conf
        run_task(conf["workflow_id"], index, conf["op"], conf["n"], start, sink=SINK)

    return run


def build(config: dict) -> DAG:
    with DAG(
        dag_id=config["dag_id"],
        schedule=None,
        catchup=False,
        is_paused_upon_creation=False,
        default_args={"retries": 0},
    ) as dag:
        # do_xcom_push=False: the body returns nothing to the engine (no XCom round trip per task).
        tasks = [
            PythonOperator(
                task_id=f"t{i}",
                python_callable=body(i),
                do_xcom_push=False,
                execution_timeout=timedelta(seconds=config["timeout_s"]),
            )
            for i in range(config["tasks"])
        ]
        if config["shape"] == "chain" and len(tasks) > 1:
            chain(*tasks)
    return dag


dag = build(CONFIG)
