"""The workload's fault block (validation, the fault workloads, hashes kept) and how its trigger and
target resolve, a target the stack lacks included. Outcomes, the runner and the session under
faults: test_faults.py."""

import hashlib
import json

import pytest

from harness.faults.runner import pick_target, trigger_ns
from harness.model import spec
from harness.model.errors import BenchError
from harness.run.driver import RunOptions, run
from harness.stack.base import ServiceInfo

from .test_faults import CHAIN, KILL, S, stamp, workload


# -- the workload's fault block ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault,over,message",
    [
        ({**KILL, "trigger": {"mid_task": 3, "at_s": 1}}, {}, "exactly one of after_tasks, at_s or mid_task"),
        ({**KILL, "target": {"role": "worker", "service": "w"}}, {}, "exactly one of role or service"),
        ({**KILL, "action": "pause", "undo_after_s": []}, {}, "a pause needs undo_after_s"),
        ({**KILL, "action": "restart"}, {}, "a restart is not undone after a delay"),
        ({**KILL, "action": "scale-out"}, {}, "a scale-out is not undone after a delay"),
        (
            {**KILL, "action": "scale-out", "undo_after_s": [], "target": {"role": "server"}},
            {},
            "its target is {role: worker}",
        ),
        ({**KILL, "action": "scale-out", "undo_after_s": [], "add_workers": 9}, {}, "add_workers"),
        ({**KILL, "trigger": {"mid_task": 6}}, {}, "mid_task needs a chain of more than 6 tasks"),
        ({**KILL, "trigger": {"mid_task": 2}}, {"shape": "fanout"}, "mid_task needs a chain"),
        ({**KILL, "trigger": {"after_tasks": 6}}, {}, "after_tasks must be below the 6 tasks"),
        ({**KILL, "signal": "SIGHUP"}, {}, "signal"),
    ],
)
def test_bad_fault_blocks_are_refused_naming_the_field(fault, over, message):
    text = json.dumps({**CHAIN, **over, "fault": fault})
    with pytest.raises(BenchError, match=message):
        spec.parse(text, "w.yaml")


def test_every_committed_result_still_names_its_workload_by_the_same_hash():
    """Fields added to the workload spec since (submit, a fault's add_workers) leave old hashes alone."""
    from harness.model.paths import REPO_ROOT

    runs = sorted((REPO_ROOT / "results").glob("*/*/run.json"))
    assert runs
    for path in runs:
        ref = json.loads(path.read_text())["workload"]
        assert spec.Workload.model_validate(ref["spec"]).digest() == ref["hash"], path


def test_fault_workloads_load_and_a_workload_without_fault_keeps_its_hash():
    for name in spec.available():
        if name.startswith("fault-"):
            wl = spec.load(name)
            # a fault that waits for the engine's timeout costs timeout_s per repetition
            limit = 300 if wl.fault.action == "scale-out" else 120
            assert wl.fault is not None and wl.timeout_s <= limit, name
    plain = spec.Workload.model_validate(CHAIN)
    unset = plain.model_dump_json(exclude={"description", "workers", "sweep", "fault", "submit"})
    assert plain.digest() == hashlib.sha256(unset.encode()).hexdigest()[:16]
    assert plain.digest() != workload().digest()


# -- trigger and target ------------------------------------------------------------------------------
def test_trigger_counts_from_the_stamps_own_times():
    t = spec.FaultTrigger
    stamps = [stamp("wf-0", 0, 1, 2), stamp("wf-0", 1, 2, 3), stamp("wf-1", 2, 0, 1.5)]
    assert trigger_ns(t(at_s=4), [], 10 * S, "wf-0") == 14 * S
    assert trigger_ns(t(after_tasks=2, delay_s=0.5), stamps, 0, "wf-0") == 2 * S + S // 2
    assert trigger_ns(t(after_tasks=4), stamps, 0, "wf-0") is None
    # mid_task: only the first workflow run's previous task counts, not another run's same index
    assert trigger_ns(t(mid_task=3, delay_s=0.2), stamps, 0, "wf-0") is None
    assert trigger_ns(t(mid_task=2, delay_s=0.2), stamps, 0, "wf-0") == 3 * S + S // 5


def test_target_by_role_in_turn_by_name_and_unknown():
    services = [
        ServiceInfo("postgres", "database"),
        ServiceInfo("history", "server"),
        ServiceInfo("frontend", "server"),
        ServiceInfo("matching", "server"),
        ServiceInfo("worker", "worker"),
        ServiceInfo("schema", "oneshot"),
    ]
    role = spec.FaultTarget(role="server", in_turn=True)
    assert [pick_target(role, services, k).name for k in range(4)] == ["frontend", "history", "matching", "frontend"]
    assert pick_target(spec.FaultTarget(role="server"), services, 2).name == "frontend"
    assert pick_target(spec.FaultTarget(service="postgres"), services, 0).role == "database"
    with pytest.raises(
        BenchError,
        match=r"no service with role 'queue' in this stack; "
        r"services: postgres \(database\)",
    ):
        pick_target(spec.FaultTarget(role="queue"), services, 0)
    with pytest.raises(BenchError, match="no service 'schema'"):
        pick_target(spec.FaultTarget(service="schema"), services, 0)


def test_a_fault_on_a_service_the_stack_lacks_is_one_line(tmp_path):
    wl = workload(fault={**KILL, "target": {"role": "database"}})
    with pytest.raises(
        BenchError,
        match=r"fault target: no service with role 'database' in this stack; "
        r"services: none \(partial results in",
    ):
        run(RunOptions("null", wl, results_root=tmp_path))
