"""Conditions matched to the claim (issue 21, item 3): CPU per task ranked at each platform's own
maximum and at one offered rate, both needed to decide; "thousands of tasks per second" judged by a
stated projection; failover judged only on a topology with a second instance of the failing component."""

import re
from pathlib import Path

import pytest

from harness import claims
from harness.claims import evaluate, load
from harness.claims.topology import instances
from harness.model.fault_record import FaultOutcome
from harness.model.record import Repetition, ServiceRef
from harness.store.cells import claim_cells, claim_series, collect

from .load_factory import rates
from .record_factory import around, make_record, runs_of


def sweep_runs(platform, points, saturated_at, rel=0.02):
    """Five runs of the noop sweep, newest first, each step's CPU per task scaled by a small spread."""
    return runs_of(
        lambda k: make_record(
            platform,
            f"{platform}-sweep",
            "rate-sweep-noop",
            kind="production",
            status="complete",
            load=rates({r: ms * k for r, ms in points.items()}, saturated_at),
        ),
        around(1.0, rel),
    )


def judged(*groups):
    series = {(g[0].platform, g[0].workload.name): g for g in groups}
    return {v.id: v for v in claims.evaluate({k: g[0] for k, g in series.items()}, series=series)}


# -- efficiency at two conditions ------------------------------------------------------------------
def test_a_ranking_both_conditions_agree_on_is_decided_and_states_the_equal_rate():
    v = judged(
        sweep_runs("hatchet", {1: 80, 10: 50, 50: 30}, saturated_at=100),
        sweep_runs("temporal", {1: 150, 10: 120}, saturated_at=25),
    )["hatchet-most-efficient"]
    assert v.verdict == "supported"
    ev = v.evidence
    assert set(ev.p_values) == {"hatchet<temporal", "hatchet<temporal @ 10/s"}
    assert ev.conditions["equal_rate"].startswith("10 runs/s: the highest offered rate sustained in every run")
    assert "hatchet 50/50/50/50/50 runs/s, temporal 10/10/10/10/10 runs/s" in ev.conditions["own_max"]
    assert "at 10 runs/s, the highest offered rate every compared platform sustained: " in ev.text
    assert "hatchet 30.00 CPU-ms" in ev.text and "hatchet 50.00 CPU-ms" in ev.text
    assert [p.text for p in ev.parts] == ["hatchet", "temporal", "hatchet at 10 runs/s", "temporal at 10 runs/s"]
    assert "equal offered rate 10 runs/s" in v.conditions


def test_conditions_that_disagree_leave_the_ranking_inconclusive():
    # cheaper at its own 50/s than temporal at its 10/s, dearer than temporal at the 10/s both sustain
    v = judged(
        sweep_runs("hatchet", {1: 200, 10: 100, 50: 30}, saturated_at=100),
        sweep_runs("temporal", {1: 150, 10: 90}, saturated_at=25),
    )["hatchet-most-efficient"]
    assert v.verdict == "inconclusive"
    assert "the two conditions disagree: supported at each platform's own maximum, contradicted at 10 runs/s" in (
        v.evidence.text
    )
    assert "a ranking needs both to agree" in v.evidence.decides


def test_a_condition_that_cannot_tell_the_platforms_apart_leaves_it_inconclusive():
    v = judged(
        sweep_runs("hatchet", {1: 200, 10: 92, 50: 30}, saturated_at=100, rel=0.05),
        sweep_runs("temporal", {1: 150, 10: 90}, saturated_at=25, rel=0.05),
    )["hatchet-most-efficient"]
    assert v.verdict == "inconclusive" and "supported only at each platform's own maximum" in v.evidence.text
    assert v.evidence.p_values["hatchet<temporal @ 10/s"] >= 0.05
    assert v.evidence.decides == "more runs of hatchet, temporal"


def test_sweeps_sharing_no_sustained_rate_cannot_decide_a_ranking():
    v = judged(
        sweep_runs("hatchet", {2: 80, 20: 50, 60: 30}, saturated_at=100),
        sweep_runs("temporal", {1: 150, 10: 120}, saturated_at=25),
    )["hatchet-most-efficient"]
    assert v.verdict == "inconclusive"
    assert "at one offered rate: not compared, no offered rate was sustained in every run" in v.evidence.text
    assert "share a sustained offered rate" in v.evidence.decides


def test_rankings_of_other_figures_keep_one_condition():
    v = judged(
        sweep_runs("hatchet", {1: 80, 10: 50, 50: 30}, saturated_at=100),
        sweep_runs("temporal", {1: 150, 10: 120}, saturated_at=25),
    )["hatchet-ultra-high-performance"]  # the maximum sustainable rate: a figure of each platform's own maximum
    assert v.verdict == "supported" and v.evidence.text.startswith("maximum sustainable rate, median over runs")
    assert "equal_rate" not in v.evidence.conditions and set(v.evidence.p_values) == {"temporal<hatchet"}


# -- thousands of tasks per second, projected --------------------------------------------------------
def test_thousands_per_second_is_judged_by_the_projected_cores_with_the_rate_reached_beside_it():
    cheap = judged(sweep_runs("hatchet", {1: 100, 10: 30, 50: 10}, saturated_at=100))["hatchet-thousands-per-s"]
    assert cheap.verdict == "supported"
    ev = cheap.evidence
    assert ev.threshold == 16 and ev.threshold_source.startswith("operationalisation: ")
    assert ev.value == 10.0 and ev.n == 5
    assert "cores projected for 1,000 tasks/s" in ev.text and "maximum sustainable rate 50 runs/s" in ev.text
    assert "measured at 50 runs/s (1500 tasks): server 10.0 cores" in ev.text
    assert "linear scaling" in ev.conditions["assumptions"] and "assuming: CPU per task" in ev.text
    dear = judged(sweep_runs("hatchet", {1: 300, 10: 90, 50: 36}, saturated_at=100))["hatchet-thousands-per-s"]
    assert dear.verdict == "contradicted" and "claimed <= 16.0 cores" in dear.evidence.text
    one = judged(sweep_runs("hatchet", {1: 300, 10: 90, 50: 36}, saturated_at=100)[:1])["hatchet-thousands-per-s"]
    assert one.verdict == "inconclusive" and "needs 4 more runs of hatchet" in one.evidence.decides


def test_a_sweep_that_sustained_nothing_projects_nothing():
    v = judged(sweep_runs("hatchet", {}, saturated_at=0.5))["hatchet-thousands-per-s"]
    assert v.verdict == "not measured"


# -- failover on one instance ----------------------------------------------------------------------
def restart_runs(services, n=2, hits=("frontend", "history", "frontend", "history")):
    def build(_):
        r = make_record("temporal", "temporal-restart", "fault-server-restart", kind="production", status="complete")
        reps = [
            Repetition(repetition=i, phase=f"rep-{i}", warmup=False, status="ok", fault=restart(svc))
            for i, svc in enumerate(hits, 1)
        ]
        shape = r.deployment.model_copy(update={"services": [ServiceRef(name=s, role="server") for s in services]})
        return r.model_copy(update={"repetitions": reps, "deployment": shape})

    return runs_of(build, range(n))


def restart(service):
    return FaultOutcome(
        scenario="server-restart",
        action="restart",
        service=service,
        role="server",
        trigger="after_tasks=5",
        timeout_s=120,
        ran_as_designed=True,
        behaviour="unaffected",
    )


def test_failover_on_one_instance_is_inconclusive_and_keeps_the_figures():
    v = judged(restart_runs(["postgres", "frontend", "history", "worker"]))["temporal-automatic-failover"]
    assert v.verdict == "inconclusive"
    assert "judged only on a topology with more than one instance of each of frontend and history; " in (
        v.evidence.text
    )
    assert "the measured stack runs one" in v.evidence.conditions["topology"]
    assert "tasks lost 0 in all" in v.evidence.text and v.evidence.n == 8
    assert "at least 2 instances of each of frontend and history" in v.evidence.decides


def test_failover_on_replicas_is_decided_as_any_fault_claim():
    both = ["postgres", "frontend", "frontend-2", "history", "history-2", "worker"]
    v = judged(restart_runs(both))["temporal-automatic-failover"]
    assert v.verdict == "supported" and "topology" not in v.evidence.conditions


def test_failover_on_the_replicated_variant_counts_each_hit_replica_as_its_component():
    # stacks/temporal replicated: the fault's targets in turn are frontend-1, frontend-2, history, history-2
    both = ["postgres", "frontend-lb", "frontend-1", "frontend-2", "history", "history-2", "system-worker"]
    hits = ("frontend-1", "frontend-2", "history", "history-2")
    v = judged(restart_runs(both, hits=hits))["temporal-automatic-failover"]
    assert v.verdict == "supported" and "topology" not in v.evidence.conditions, v.evidence.text


def test_instances_count_replica_suffixes_but_not_other_services():
    r = make_record("temporal", kind="production")
    names = ["history", "history-2", "history-3", "historyx", "history-scanner-worker", "frontend-1", "frontend-2"]
    r = r.model_copy(
        update={
            "deployment": r.deployment.model_copy(
                update={"services": [ServiceRef(name=n, role="server") for n in names]}
            )
        }
    )
    assert instances(r, "history") == 3 and instances(r, "frontend") == 2 and instances(r, "matching") == 0
    assert instances(r, "frontend-1") == 2  # a hit replica counts as its component


def test_every_measured_failover_or_ha_claim_needs_replicas():
    words = re.compile(r"failover|high availability|\bHA\b", re.IGNORECASE)
    rows = [c for c in claims.CLAIMS if c.measurable and words.search(c.quote)]
    assert [c.id for c in rows] == ["temporal-automatic-failover"]
    assert all(c.needs.replicas and c.needs.replicas >= 2 for c in rows)


def test_a_setup_ranking_stands_only_where_every_figure_agrees():
    """Setup complexity (claims.yaml): the vendor guides' services and keys, install size and
    start -> ready, ranked each; one figure short of runs leaves the whole inconclusive, naming it."""
    cells, incomplete = collect(Path("results"))
    if not cells:
        pytest.skip("no committed results")
    by_id = {r.id: r for r in evaluate(claim_cells(cells), incomplete, load(), claim_series(cells))}
    v = by_id["setup-complexity-ranking"]
    for label in (
        "the vendor's self-hosting guide starts",
        "configuration keys",
        "install footprint",
        "start -> ready",
    ):
        assert label in v.evidence.text, label
    assert v.evidence.statistic == "the claimed order on each figure; decided only where all agree"
    if v.verdict == "inconclusive":
        assert v.evidence.decides.startswith(("the figures disagree", "every decided figure agrees"))
