"""The driver end to end on the in-process null platform, including runs that must fail validation."""

import json

import pandas as pd
import pytest

from harness.platforms.null import NullAdapter
from harness.run.driver import RunOptions, run
from harness.workers.taskbody import run_task

from .conftest import small, stacks_with


def _run(tmp_path, workload, platform="null"):
    path = run(RunOptions(platform, workload, results_root=tmp_path))
    return path, json.loads((path / "run.json").read_text())


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("latency-probe", {"runs": 5, "repetitions": 2}),
        ("chain-40x-fib10", {"repetitions": 2}),
        ("fanout-100-noop", {"repetitions": 2}),
    ],
)
def test_null_runs_complete_with_ordered_stamps(tmp_path, name, overrides):
    wl = small(name, **overrides)
    path, doc = _run(tmp_path, wl)
    assert doc["status"] == "complete", doc.get("error")
    tasks = pd.read_parquet(path / "tasks.parquet")
    assert len(tasks) == wl.tasks * wl.runs * (wl.warmup + wl.repetitions)
    assert (tasks["submit_ns"] <= tasks["body_start_ns"]).all()
    assert (tasks["body_start_ns"] <= tasks["body_end_ns"]).all()
    assert tasks.groupby(["workflow_id", "index"]).size().max() == 1
    lat = doc["summary"]["latency_ms"]["submit_to_first_start"]
    assert lat["count"] == wl.runs * wl.repetitions and lat["p50_ms"] > 0
    assert [r["warmup"] for r in doc["repetitions"]] == [True] + [False] * wl.repetitions
    assert doc["machine"]["logical_cores"] >= 1 and doc["workload"]["hash"] == wl.digest()


def test_idle_workload_samples_resources(tmp_path):
    path, doc = _run(tmp_path, small("idle-60s", duration_s=1.0))
    assert doc["status"] == "complete"
    res = pd.read_parquet(path / "resources.parquet")
    idle = res[res["phase"] == "idle"]
    assert len(idle) >= 4  # 5 Hz for one second
    assert set(idle["service"]) == {"harness"}


class DuplicatingAdapter(NullAdapter):
    """Runs task 0 of every workflow twice, as an engine with an unwanted retry would."""

    name = "dup"

    def _task(self, req, index, queued_ns=None):
        if index == 0:
            import time

            run_task(req.workflow_id, 0, req.op, req.n, time.time_ns(), self._sink)
        return super()._task(req, index, queued_ns)


class LosingAdapter(NullAdapter):
    """Reports success but never runs the last task."""

    name = "lose"

    def _task(self, req, index, queued_ns=None):
        if index == req.tasks - 1:
            from harness.model.engine import EngineTask

            return EngineTask(index)
        return super()._task(req, index, queued_ns)


@pytest.mark.parametrize("cls,reason", [(DuplicatingAdapter, "duplicated"), (LosingAdapter, "missing")])
def test_missing_or_duplicated_tasks_fail_the_run(tmp_path, monkeypatch, cls, reason):
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={cls.name: f"{__name__}:{cls.__name__}"})
    path, doc = _run(tmp_path, small("chain-40x-fib10", tasks=3, repetitions=2), platform=cls.name)
    assert doc["status"] == "failed"
    assert all(r["status"] == "failed" for r in doc["repetitions"])
    assert any(reason in why for r in doc["repetitions"] for why in r["reasons"])
    # failed repetitions are kept as raw data but excluded from statistics
    assert doc["summary"]["measured_repetitions_ok"] == 0
    assert doc["summary"]["latency_ms"]["submit_to_first_start"] is None
    assert (path / "tasks.parquet").exists()
