"""A scale-out's speed-up under three window choices (analysis/drain.py), and fault claims that
decide only where every choice agrees (issue 21, item 4)."""

from pathlib import Path

import pytest

from harness.analysis.drain import WINDOWS, ScaleOut, TaskSpan, drain_windows, with_drain_windows
from harness.claims import model
from harness.model.fault_record import DrainWindow, FaultOutcome, Throughput
from harness.model.record import Repetition
from harness.store.results import iter_runs, load_run

from .record_factory import runs_of
from .test_claims_evaluators import FILE, judge, run

S = 1_000_000_000


def two_workers():
    """One worker: 1 s tasks back to back over 0-12 s; a second asked for at 12 s, up at 12 s, its
    first task started at 14 s (2 s of start-up); both then busy until 30 s."""
    spans = [TaskSpan("w1", t * S, (t + 1) * S) for t in range(30)]
    spans += [TaskSpan("w2", t * S, (t + 1) * S) for t in range(14, 30)]
    return spans, ScaleOut(0, 12 * S, 12 * S, frozenset({"w2"}), settle_s=1.0)


def test_each_window_choice_reads_its_own_stretch_of_the_drain():
    by = {w.name: w for w in drain_windows(*two_workers())}
    assert list(by) == list(WINDOWS)
    assert by["as-designed"].before_per_s == pytest.approx(1.0)
    # the added worker's 2 s start-up sits inside "after": 34 ends in 18 s
    assert by["as-designed"].after_per_s == pytest.approx(34 / 18)
    assert by["from-first-end"].speedup == pytest.approx(2.0)  # (1, 12] and (15, 30]: every worker busy
    # (1 s, 12 s] one worker, (15 s, 30 s] (w2's first start + settle -> the first worker idle for good)
    assert by["steady"].before_per_s == pytest.approx(1.0) and by["steady"].speedup == pytest.approx(2.0)


def test_a_window_with_no_figure_gives_no_speed_up():
    spans, x = two_workers()
    alone = [s for s in spans if s.worker == "w1"]  # the added worker never took a task
    by = {w.name: w for w in drain_windows(alone, x)}
    assert by["as-designed"].speedup == pytest.approx(1.0)
    assert by["from-first-end"].after_per_s is None and by["from-first-end"].speedup is None
    assert by["steady"].speedup is None
    assert drain_windows([], x) == []


def test_committed_scale_out_runs_regain_their_windows_and_the_designed_one_is_what_they_recorded():
    runs = [d for d in iter_runs(Path("results")) if d.name.split("-", 1)[1].startswith("fault-worker-scale-out")]
    if not runs:
        pytest.skip("no committed fault-worker-scale-out run under results/")
    for d in runs:
        data = load_run(d)
        again = with_drain_windows(data.record, data.tasks, data.workflows)
        for rep in (r for r in again.repetitions if r.fault is not None and not r.warmup):
            by = {w.name: w for w in rep.fault.drain_windows}
            assert list(by) == list(WINDOWS), d
            t = rep.fault.throughput
            assert by["as-designed"].before_per_s == pytest.approx(t.before), d
            assert by["as-designed"].after_per_s == pytest.approx(t.after), d


SCALE = (
    FILE
    + """\
- id: scale
  platforms: [hatchet]
  section: s
  quote: add workers to handle increased load
  needs: {fault: worker-scale-out, measures: [{workload: fault-worker-scale-out}]}
  predicate: {kind: fault, expect: [{metric: fault.drain_speedup, op: ">=", value: 1.5}],
      source: "operationalisation: x1.5"}
"""
)


def scale_runs(*speedups: dict[str, float], runs: int = 3):
    def outcome(by):
        windows = [DrainWindow(name=n, before_per_s=1.0, after_per_s=v, speedup=v) for n, v in by.items()]
        return FaultOutcome(
            scenario="worker-scale-out",
            action="scale-out",
            trigger="after_tasks=12",
            timeout_s=300,
            ran_as_designed=True,
            behaviour="used-added-workers",
            throughput=Throughput(before=1.0, after=by["as-designed"]),
            drain_windows=windows,
        )

    reps = [
        Repetition(repetition=i, phase=f"rep-{i}", warmup=False, status="ok", fault=outcome(s))
        for i, s in enumerate(speedups, 1)
    ]
    return runs_of(lambda _: run("hatchet", "fault-worker-scale-out", repetitions=reps), range(runs))


def test_a_scale_out_claim_is_decided_only_where_every_window_choice_agrees():
    parsed = model.parse(SCALE, "test-claims.yaml")
    agree = {"as-designed": 1.9, "from-first-end": 1.8, "steady": 1.7}
    v = judge(parsed, *scale_runs(agree, agree))["scale"]
    assert v.verdict == "supported", v.evidence.text
    assert "as-designed median 1.90 x, from-first-end median 1.80 x, steady median 1.70 x" in v.evidence.text
    split = {"as-designed": 2.5, "from-first-end": 1.6, "steady": 1.2}  # start-up inside "before" flatters
    v = judge(parsed, *scale_runs(split, split))["scale"]
    assert v.verdict == "inconclusive" and "held in 0 of 6" in v.evidence.text
    assert "held per window choice: as-designed 6 of 6, from-first-end 6 of 6, steady 0 of 6" in v.evidence.text
    assert "window choices that agree (they do not" in v.evidence.decides
    low = {"as-designed": 1.1, "from-first-end": 1.0, "steady": 0.9}
    assert judge(parsed, *scale_runs(low, low))["scale"].verdict == "contradicted"
