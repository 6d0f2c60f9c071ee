"""A service that dies besides the one a fault stopped: part of the fault's outcome, not a harness failure."""

import json
import sys
import time

import psutil
import pytest

from harness.analysis.fault_detail import describe_death
from harness.model.errors import BenchError, ServiceDied
from harness.model.fault_record import CollateralDeath
from harness.run.driver import RunOptions, run
from harness.stack.processes import ProcessGroup
from harness.stack.service import ServiceSpec

from .conftest import stacks_with
from .test_faults import KILL, NullWithWorker, S, sleeper, workload

# Exits with code 3 once the file named by argv[1] appears (removing it, so a restarted copy waits again).
DIES_ON_FILE = (
    "import os, sys, time\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
    "os.remove(sys.argv[1]); print('bystander: lost its database', flush=True); sys.exit(3)"
)


def bystander(trigger_file) -> ServiceSpec:
    return ServiceSpec(
        name="bystander", role="scheduler", command=[sys.executable, "-c", DIES_ON_FILE, str(trigger_file)]
    )


class DyingBystander(NullWithWorker):
    """The null platform with a worker (the fault's target) and a bystander service that dies when a
    run of the phase named by `dies_in` reaches its 20th task (the fault fired after the 2nd: ~0.7 s
    earlier at ~40 ms a task)."""

    name = "dyingbystander"
    dies_in = "-rep-"

    def workers(self, deployment):
        self._trigger = deployment.run_dir / "bystander-dies"
        return [sleeper(), bystander(self._trigger)]

    def _task(self, req, index, queued_ns=None):
        if index == 20 and self.dies_in in req.workflow_id:
            self._trigger.touch()
            time.sleep(1.0)  # the watchdog looks every 0.2 s (and the session after each run)
        return super()._task(req, index, queued_ns)


class DyingInWarmup(DyingBystander):
    name = "dyinginwarmup"
    dies_in = "-warmup-"


def _fault_workload():
    return workload(
        fault={**KILL, "trigger": {"after_tasks": 2}, "undo_after_s": [0.1]},
        tasks=30,
        task={"op": "fib", "n": 27},
        repetitions=2,
    )


def test_a_service_dying_during_a_fault_is_recorded_and_started_again_for_the_next_repetition(tmp_path, monkeypatch):
    cls = DyingBystander
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={cls.name: f"{__name__}:{cls.__name__}"})
    path = run(RunOptions(cls.name, _fault_workload(), results_root=tmp_path))
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error")
    warm, *measured = doc["repetitions"]
    assert warm["fault"] is None and len(measured) == 2
    for rep in measured:  # the bystander died in each: so it was started again after the first
        f = rep["fault"]
        assert rep["status"] == "ok" and f["behaviour"] == "unaffected", json.dumps(f)
        [death] = f["collateral"]
        assert death["service"] == "bystander" and death["exit_code"] == 3
        assert death["last_log_line"] == "bystander: lost its database"
        assert death["seen_ns"] > f["fired_ns"] and death["started_again_s"] >= 0
        assert "bystander died too (exit code 3, seen" in f["behaviour_detail"]


def test_a_service_dying_outside_a_fault_repetition_still_ends_the_run(tmp_path, monkeypatch):
    cls = DyingInWarmup
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={cls.name: f"{__name__}:{cls.__name__}"})
    with pytest.raises(
        BenchError,
        match=r"bystander died with exit code 3; last log line: "
        r"'bystander: lost its database'",
    ):
        run(RunOptions(cls.name, _fault_workload(), results_root=tmp_path))


def test_a_dead_service_marked_dead_is_left_alone_its_group_cleared_and_it_can_start_again(tmp_path):
    # the leader exits 3 and leaves a child behind in its process group
    leaver = ServiceSpec(
        name="leaver",
        role="scheduler",
        command=["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(600)' & echo started; sleep 0.5; exit 3"],
    )
    with ProcessGroup(tmp_path) as group:
        group.start(leaver)
        leader = psutil.Process(group.find("leaver").pid)
        deadline = time.monotonic() + 5
        while not (left := [c for c in leader.children() if "sleep(600)" in " ".join(c.cmdline())]):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.02)
        [child] = left
        while group.find("leaver").popen.poll() is None:  # not psutil's wait: it would take the exit code
            assert time.monotonic() < deadline + 5, "the leader never exited"
            time.sleep(0.02)
        with pytest.raises(ServiceDied) as died:
            group.check_alive()
        assert (died.value.service, died.value.exit_code, died.value.last_line) == ("leaver", 3, "started")
        group.mark_dead("leaver")
        group.check_alive()  # left alone from now on
        assert psutil.wait_procs([child], timeout=5)[1] == [], "what the dead service left is stopped"
        group.start_again("leaver")
        assert group.find("leaver").state == "running"


def test_the_detail_says_when_a_death_was_seen_and_how_long_the_restart_took():
    death = CollateralDeath(
        service="dag-processor", exit_code=1, seen_ns=13 * S, last_log_line="locked", started_again_s=4.25
    )
    assert describe_death(death, 10 * S) == (
        "dag-processor died too (exit code 1, seen 3.0s after the fault: "
        "'locked'); started again after the repetition in 4.2s"
    )
    assert "seen 1.0s before the fault" in describe_death(death, 14 * S)
