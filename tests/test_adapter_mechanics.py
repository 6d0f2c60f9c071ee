"""The mechanics every adapter shares (harness/platforms/mechanics.py): exact timestamps, polling,
the Python worker service and the embedded task-body script."""

import calendar
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.model import spec
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.platforms import base, hatchet, kestra, null, prefect, temporal, windmill
from harness.platforms.base import Deployment, deployable, replicas, worker_copy
from harness.platforms.mechanics import epoch_ns, poll_until, python_worker, task_body_script
from harness.workers.taskbody import STAMPS_DIR_ENV

UTC = timezone.utc


@pytest.mark.parametrize(
    "value,expected",
    [
        # float conversion, int(dt.timestamp() * 1e9), gives ...099840, ...001024, ...998976, ...897088
        (datetime(2026, 11, 24, 10, 0, 0, 100, tzinfo=UTC), 1795514400000100000),
        (datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 1767225600000001000),
        (datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC), 1751327999999999000),
        (datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC), 1773500966535897000),
        # the same instant in another zone, and naive (taken as UTC, never as the machine's local time)
        (datetime(2026, 11, 24, 12, 0, 0, 100, tzinfo=timezone(timedelta(hours=2))), 1795514400000100000),
        (datetime(2026, 11, 24, 10, 0, 0, 100), 1795514400000100000),
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        # strings: RFC 3339 as Windmill sends it, and Go's nanoseconds, which datetime cannot hold
        ("2026-11-24T10:00:00.000100Z", 1795514400000100000),
        ("2026-11-24T10:00:00.000100123Z", 1795514400000100123),
        ("2026-11-24T12:00:00.5+02:00", 1795514400500000000),
        ("2026-11-24T10:00:00Z", 1795514400000000000),
        ("2026-11-24T10:00:00.000100", 1795514400000100000),
        # nothing recorded: None, empty, Go's zero time.Time
        (None, None),
        ("", None),
        ("0001-01-01T00:00:00Z", None),
        (datetime(1, 1, 1, tzinfo=UTC), None),
    ],
)
def test_epoch_ns_is_exact(value, expected):
    assert epoch_ns(value) == expected


def test_epoch_ns_agrees_with_integer_arithmetic_where_floats_do_not():
    rng = random.Random(7)
    float_wrong = 0
    for _ in range(2000):
        dt = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(60 * 365 * 86_400 * 10**6))
        exact = calendar.timegm(dt.utctimetuple()) * 10**9 + dt.microsecond * 1000
        assert epoch_ns(dt) == exact
        assert epoch_ns(dt.isoformat()) == exact
        assert epoch_ns(dt.replace(tzinfo=None)) == exact
        float_wrong += int(dt.timestamp() * 1e9) != exact
    assert float_wrong > 1000, "the inputs include the ones float conversion gets wrong"


def test_poll_until_returns_the_first_value_that_is_done():
    answers = iter([{"completed": False}, {"completed": False}, {"completed": True, "n": 3}])
    assert poll_until("x", lambda: next(answers), 5, 0.001, done=lambda a: a["completed"]) == {
        "completed": True,
        "n": 3,
    }


def test_poll_until_raises_one_line_past_the_timeout_after_a_last_look():
    calls = []
    t = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^job 7 not complete after 0\.05s$"):
        poll_until("job 7 not complete", lambda: calls.append(1), 0.05, 0.01)
    assert time.monotonic() - t < 1 and len(calls) >= 3
    with pytest.raises(BenchError, match=r"^no worker after 0s$"):
        poll_until("no worker", lambda: False, 0, 0.01, error=BenchError)


def test_poll_until_without_error_returns_the_last_value_at_the_deadline():
    values = iter(range(1000))
    last = poll_until("records", lambda: next(values), 0.03, 0.005, done=lambda v: v > 10**6, error=None)
    assert last > 0


def _deployment(tmp_path: Path) -> Deployment:
    return Deployment(
        run_id="r1",
        workload=spec.load("latency-probe"),
        run_dir=tmp_path,
        stamps_dir=tmp_path / "stamps",
        env_bin=tmp_path / "env" / "bin",
        endpoints={},
    )


def test_python_worker_runs_the_module_from_the_checkout_with_the_platforms_python(tmp_path):
    worker = python_worker(_deployment(tmp_path), "temporal_worker", {"A": "1"}, ready_timeout_s=60)
    assert worker.command == [str(tmp_path / "env" / "bin" / "python"), "-m", "harness.workers.temporal_worker"]
    assert (worker.name, worker.role, worker.cwd) == ("worker", "worker", REPO_ROOT)
    assert worker.env == {
        "A": "1",
        STAMPS_DIR_ENV: str(tmp_path / "stamps"),
        "PYTHONPATH": str(REPO_ROOT),
        "BENCH_READY_FILE": str(tmp_path / "temporal_worker.ready"),
        "BENCH_WORKER_NAME": "worker",
    }
    assert worker.ready.file == str(tmp_path / "temporal_worker.ready") and worker.ready.timeout_s == 60
    plain = python_worker(_deployment(tmp_path), "hatchet_worker", {})
    assert plain.ready is None and "BENCH_READY_FILE" not in plain.env
    # more processes of it, from the start (replicas) or added mid-workload: each named in its own stamps
    second, added = replicas(worker, 2)[1], worker_copy(worker, "scale1-1")
    assert (second.name, second.env["BENCH_WORKER_NAME"], second.ready.file) == (
        "worker-2",
        "worker-2",
        str(tmp_path / "temporal_worker.ready-2"),
    )
    assert (added.name, added.env["BENCH_WORKER_NAME"], added.env["BENCH_READY_FILE"]) == (
        "worker-scale1-1",
        "worker-scale1-1",
        str(tmp_path / "temporal_worker.ready-scale1-1"),
    )


def test_task_body_script_is_self_contained_and_stamps_with_the_container_tag(tmp_path):
    script = task_body_script(
        "print(run_task('wf', 2, 'fib', 10, time.time_ns(), _bench_sink))\n",
        prelude="# prelude first\n",
        stamps_dir=str(tmp_path),
    )
    assert script.startswith("# prelude first\n") and "from __future__" not in script
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, env={"HOSTNAME": "c1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "55"
    assert len(list(tmp_path.glob("stamps-c1-*.jsonl"))) == 1


def test_every_adapter_declares_how_its_wait_polls():
    polls = {
        cls: cls.wait_poll_s
        for cls in (
            prefect.PrefectAdapter,
            windmill.WindmillAdapter,
            kestra.KestraAdapter,
            temporal.TemporalAdapter,
            temporal.TemporalDevAdapter,
            hatchet.HatchetAdapter,
            null.NullAdapter,
        )
    }
    assert polls[prefect.PrefectAdapter] == 0.05
    assert polls[windmill.WindmillAdapter] == polls[kestra.KestraAdapter] == 0.02
    assert {polls[c] for c in (temporal.TemporalAdapter, hatchet.HatchetAdapter, null.NullAdapter)} == {None}


def test_deployable_turns_only_the_idle_workload_into_a_one_task_noop_chain():
    probe = spec.load("latency-probe")
    assert deployable(probe) is probe
    idle = deployable(spec.load("idle-60s"))
    assert (idle.shape, idle.tasks, idle.task.op, idle.name) == ("chain", 1, "noop", "idle-60s")
    assert base.EngineWorkflow("completed").records_error is None


def test_runs_in_one_process_share_one_event_loop_and_close_ends_only_the_runs_tasks():
    """`bench suite` runs many cells in one process: a loop closed after one run left grpc calls of
    that run completing onto a closed loop ("Event loop is closed" tracebacks in the next run)."""
    import asyncio

    first = base.EventLoop()
    left_behind = first.loop.create_task(asyncio.sleep(3600))  # a wait an interrupt left pending
    first.run(asyncio.sleep(0))
    first.close()
    assert left_behind.cancelled()
    second = base.EventLoop()
    assert second.loop is first.loop and not second.loop.is_closed()
    assert second.run(asyncio.sleep(0, result=7)) == 7
