"""A scale-out's speed-up under several window choices (issue 21, item 4): how fast the backlog
drained before workers were added and after, each window a stretch of constant worker set. The
choice of window moves the ratio (start-up inside "before", the added worker's own start-up and the
last lone tasks inside "after"), so the claims decide only where every choice agrees.

Pure: task stamps in, rates out. The same function reads a run as it ends and a committed run's
tasks.parquet again (store/cells.py), so a change here applies to old results too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.model.fault_record import DrainWindow, FaultOutcome
from harness.model.record import RunRecord
from harness.model.spec import FaultSpec


@dataclass(frozen=True)
class TaskSpan:
    """One task body as its stamps saw it."""

    worker: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class ScaleOut:
    """One scale-out experiment: when the first run was submitted, the fault fired (the workers were
    asked for) and the added workers were up, which workers were added, and the settling time."""

    first_submit_ns: int
    fired_ns: int
    undone_ns: int
    added: frozenset[str]
    settle_s: float


WINDOWS = {
    "as-designed": "before: first submission -> scale-out; after: added workers started -> last task end",
    "from-first-end": (
        "before: first task end -> scale-out; after: first task end on an added worker -> last task end "
        "(each worker set's start-up left out)"
    ),
    "steady": (
        "before: first task start + settle_s -> scale-out; after: first task start on an added worker + "
        "settle_s -> the first worker gone idle for good (every worker busy throughout)"
    ),
}


def drain_windows(spans: Sequence[TaskSpan], x: ScaleOut) -> list[DrainWindow]:
    """The before and after rates (task ends per second) under every window choice in WINDOWS."""
    if not spans:
        return []
    settle = int(x.settle_s * 1e9)
    ends = sorted(s.end_ns for s in spans)
    on_added = [s for s in spans if s.worker in x.added]
    first_added_end = min((s.end_ns for s in on_added), default=None)
    first_added_start = min((s.start_ns for s in on_added), default=None)
    last_per_worker = {}
    for s in spans:
        last_per_worker[s.worker] = max(last_per_worker.get(s.worker, 0), s.end_ns)
    before_ends = [e for e in ends if e <= x.fired_ns]
    bounds = {
        "as-designed": ((x.first_submit_ns, x.fired_ns), (x.undone_ns, ends[-1])),
        "from-first-end": (
            (before_ends[0] if before_ends else None, x.fired_ns),
            (first_added_end, ends[-1]),
        ),
        "steady": (
            (min(s.start_ns for s in spans) + settle, x.fired_ns),
            (
                None if first_added_start is None else first_added_start + settle,
                min(last_per_worker.values()) if len(last_per_worker) > 1 else None,
            ),
        ),
    }
    return [_window(name, ends, before, after) for name, (before, after) in bounds.items()]


def _window(name: str, ends: list[int], before: tuple, after: tuple) -> DrainWindow:
    b, a = _rate(ends, *before), _rate(ends, *after)
    return DrainWindow(
        name=name,
        before_per_s=b,
        after_per_s=a,
        speedup=a / b if a is not None and b else None,
    )


def _rate(ends: list[int], lo: int | None, hi: int | None) -> float | None:
    """Task ends per second in (lo, hi]; None when the window is empty or holds no end, so a
    window too short to measure is no figure rather than a zero."""
    if lo is None or hi is None or hi <= lo:
        return None
    n = sum(1 for e in ends if lo < e <= hi)
    return n / ((hi - lo) / 1e9) if n else None


def with_drain_windows(record: RunRecord, tasks: pd.DataFrame, workflows: pd.DataFrame) -> RunRecord:
    """The record with every scale-out experiment's windows computed again from its raw stamps
    (runs written before the windows existed gain them; the spec's settle_s, else its default)."""
    fault = record.workload.spec.get("fault")
    if not fault or fault.get("action") != "scale-out" or tasks.empty:
        return record
    settle_s = FaultSpec.model_validate(fault).settling_s()
    reps = []
    for rep in record.repetitions:
        f = rep.fault
        if f is not None and not rep.warmup and f.fired_ns is not None and f.undone_ns is not None:
            f = f.model_copy(update={"drain_windows": _again(f, rep.repetition, tasks, workflows, settle_s)})
        reps.append(rep.model_copy(update={"fault": f}))
    return record.model_copy(update={"repetitions": reps})


def _again(f: FaultOutcome, rep: int, tasks: pd.DataFrame, workflows: pd.DataFrame, settle_s: float):
    mine = tasks[(tasks["repetition"] == rep) & tasks["body_end_ns"].notna()]
    submitted = workflows.loc[workflows["repetition"] == rep, "submit_ns"].dropna()
    assert f.fired_ns is not None and f.undone_ns is not None  # checked by the caller
    spans = [TaskSpan(str(t.worker), int(t.body_start_ns), int(t.body_end_ns)) for t in mine.itertuples()]
    first = int(submitted.min()) if len(submitted) else f.fired_ns
    return drain_windows(spans, ScaleOut(first, f.fired_ns, f.undone_ns, frozenset(f.added_workers), settle_s))
