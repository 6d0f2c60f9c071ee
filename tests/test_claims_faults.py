"""Fault claims on synthetic run records: each experiment holds or not, and the exact binomial interval
of the share that held decides (test_claims_evaluators.py holds the other kinds and the claims file)."""

import pytest

from harness.claims import model
from harness.model.fault_record import FaultOutcome
from harness.model.record import Repetition

from .record_factory import runs_of
from .test_claims_evaluators import FILE, judge, run


@pytest.fixture(scope="module")
def parsed():
    return model.parse(FILE, "test-claims.yaml")


# -- fault scenario outcome ------------------------------------------------------------------------
def kill_run(*outcomes):
    reps = [
        Repetition(
            repetition=i,
            phase=f"rep-{i}",
            warmup=False,
            status="ok" if o.behaviour == "reassigned" else "failed",
            fault=o,
        )
        for i, o in enumerate(outcomes, 1)
    ]
    return run("hatchet", "fault-kill", repetitions=reps)


def outcome(behaviour, lost=0, ran=True):
    return FaultOutcome(
        scenario="worker-kill",
        action="kill",
        trigger="mid_task=3 +0.2s",
        timeout_s=90,
        ran_as_designed=ran,
        tasks_lost=lost,
        behaviour=behaviour,
    )


def test_fault_claims_wait_for_fault_results_and_name_the_command(parsed):
    v = judge(parsed)["kill"]
    assert v.verdict == "not measured"
    assert "fault scenario worker-kill" in v.missing and "make bench PLATFORM=hatchet WORKLOAD=fault-kill" in v.missing
    v = judge(parsed, kill_run(outcome("reassigned", ran=False)))["kill"]
    assert v.verdict == "not measured" and "no worker-kill experiment that ran as designed" in v.missing


def kill_runs(*outcomes, runs=3):
    """`runs` runs of the kill scenario, each with these experiments."""
    return runs_of(lambda _: kill_run(*outcomes), range(runs))


def test_fault_outcome_decides(parsed):
    v = judge(parsed, *kill_runs(outcome("reassigned"), outcome("unaffected")))["kill"]
    assert v.verdict == "supported" and "what it did: reassigned x3, unaffected x3" in v.evidence.text
    assert "the claim held in 6 of 6 (95% [0.54, 1.00]" in v.evidence.text
    ev = v.evidence
    assert (ev.n, ev.value, ev.threshold, ev.threshold_source) == (6, 1.0, 0.5, "operationalisation: none lost")
    assert ev.interval[0] > 0.5 and ev.conditions["cores"] == "2"
    lost = outcome("waited-until-timeout", lost=2)
    v = judge(parsed, *kill_runs(lost, lost))["kill"]
    assert v.verdict == "contradicted" and "tasks lost 12 in all" in v.evidence.text
    assert "held in 0 of 6" in v.evidence.text and v.evidence.interval[1] < 0.5
    v = judge(parsed, *kill_runs(outcome("reassigned"), runs=2))["kill"]  # 2 of 2: too few to say
    assert v.verdict == "inconclusive" and v.evidence.decides.startswith("4 more experiment(s)")
    assert "make bench PLATFORM=hatchet WORKLOAD=fault-kill" in v.evidence.decides
    v = judge(parsed, *kill_runs(outcome("reassigned"), lost))["kill"]  # one lost task fails that experiment
    assert v.verdict == "inconclusive" and "held in 3 of 6" in v.evidence.text


def test_a_fault_claim_may_name_several_scenarios_and_each_workload_is_judged_by_its_own(parsed):
    kill = next(c for c in parsed.claims if c.id == "kill")
    both = kill.model_copy(
        update={
            "needs": kill.needs.model_copy(
                update={
                    "fault": ["worker-kill", "database-restart"],
                    "measures": [*kill.needs.measures, type(kill.needs.measures[0])(workload="fault-db")],
                }
            )
        }
    )
    parsed = parsed.model_copy(update={"claims": [both]})
    db = FaultOutcome(
        scenario="database-restart",
        action="restart",
        trigger="after_tasks=5",
        timeout_s=90,
        ran_as_designed=True,
        behaviour="reassigned",
    )
    reps = [Repetition(repetition=i, phase=f"rep-{i}", warmup=False, status="ok", fault=db) for i in (1, 2)]
    db_runs = runs_of(lambda _: run("hatchet", "fault-db", repetitions=reps), range(3))
    kills = kill_runs(outcome("reassigned"), outcome("reassigned"))
    v = judge(parsed, *kills, *db_runs)["kill"]
    assert v.verdict == "supported" and "fault scenario worker-kill and database-restart" in v.conditions
    assert [p.n for p in v.evidence.parts] == [6, 6] and v.evidence.n == 6
    v = judge(parsed, *kills, *db_runs[:1])["kill"]  # the restart seen twice only: the claim as a whole waits
    assert v.verdict == "inconclusive" and "4 more experiment(s)" in v.evidence.decides
    v = judge(parsed, *kills)["kill"]
    assert v.verdict == "supported"  # judged on what was measured, naming what was not
    assert "fault scenario worker-kill or database-restart: no complete fault-db run of hatchet" in v.missing
