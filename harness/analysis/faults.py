"""What a platform did about a fault, from the stamps of the task bodies and the engine's records.

How the fault outcome and the repetition's verdict (analysis.assemble) relate:
- The verdict is unchanged: a fault repetition in which the platform lost, duplicated or retried a
  task, or did not finish a run, is `failed`, and like every failed repetition it is left out of
  every latency and throughput statistic.
- The outcome says whether the *experiment* ran as designed (the fault fired at its trigger and was
  undone when asked, with no error of the harness's own). A repetition whose experiment ran is
  complete as an experiment whatever the platform did: `repetition_done` counts it as done, so a run
  whose platform lost tasks under a fault is still recorded `complete`, and the fault table reads it.
- A fault that never fired (the trigger was not reached) or a fault operation that failed makes the
  repetition not done, and the run `failed`, as any harness failure does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from harness.analysis.drain import ScaleOut, TaskSpan, drain_windows
from harness.analysis.fault_detail import describe_death, describe_probe, probe_verdict
from harness.analysis.fault_table import fault_report_context  # noqa: F401  report/page.py looks it up here
from harness.analysis.runs import Submission
from harness.model import registry
from harness.model.engine import EngineTask, EngineWorkflow
from harness.model.fault_record import (
    FAULT_MEASURES,
    CollateralDeath,
    FaultLog,
    FaultOutcome,
    InterruptedTask,
    Throughput,
)
from harness.model.record import Repetition, Setting
from harness.model.spec import FaultSpec, FaultTrigger, Workload

# A rerun that starts this long after a worker was available again (plus the worker's own start-up,
# from the run's deploy_s) counts as reassigned at once; later, something timed out first.
REASSIGN_WINDOW_S = 3.0
DECIDING = ("timeout", "retr", "heartbeat", "poll", "query_seconds", "slots", "limit", "concurrent", "task_runner")


@dataclass
class FaultInputs:
    """One fault repetition as the session saw it."""

    spec: FaultSpec
    log: FaultLog
    workload: Workload
    submissions: list[Submission]
    stamps: list[dict]  # this repetition's stamps
    engine: dict[str, EngineWorkflow]
    warmup_transition_max_ns: int | None  # the undisturbed warmup's longest chain transition
    worker_start_s: float | None  # deploy_s: how long a worker takes to be usable
    platform: str
    settings: dict[str, Setting]
    refused_reads: list[str] = field(default_factory=list)  # status reads the platform answered with an error
    collateral: list[CollateralDeath] = field(default_factory=list)  # other services that died meanwhile


def repetition_done(rep: Repetition) -> bool:
    """Passed validation, or a fault experiment that ran as designed (whatever the platform did)."""
    return rep.status == "ok" or (rep.fault is not None and rep.fault.ran_as_designed)


def describe_trigger(trigger: FaultTrigger) -> str:
    if trigger.at_s is not None:
        return f"at_s={trigger.at_s:g}"
    what = f"after_tasks={trigger.after_tasks}" if trigger.after_tasks is not None else f"mid_task={trigger.mid_task}"
    return what + (f" +{trigger.delay_s:g}s" if trigger.delay_s else "")


def outcome(x: FaultInputs) -> FaultOutcome:
    log, wl = x.log, x.workload
    ids = {s.request.workflow_id for s in x.submissions}
    mine = [s for s in x.stamps if s["workflow_id"] in ids]
    counts = Counter((s["workflow_id"], s["index"]) for s in mine)
    expected = wl.tasks * wl.runs
    out = FaultOutcome(
        measures=FAULT_MEASURES,
        scenario=x.spec.scenario,
        action=x.spec.action,
        service=log.service,
        role=log.role,
        trigger=describe_trigger(x.spec.trigger),
        undo_after_s=log.undo_after_s,
        fired_ns=log.fired_ns,
        undone_ns=log.undone_ns,
        operations=log.operations,
        timeout_s=wl.timeout_s,
        tasks_expected=expected,
        tasks_lost=expected - len(counts),
        tasks_duplicated=sum(n - 1 for n in counts.values()),
        engine_retried=sum(1 for e in x.engine.values() for t in e.tasks if t.attempts > 1),
        runs_failed=sum(1 for s in x.submissions if s.status not in ("completed", "timeout")),
        runs_unfinished=sum(1 for s in x.submissions if s.status == "timeout") + wl.runs - len(x.submissions),
        decided_by=deciding_settings(x.platform, x.settings),
    )
    out.ran_as_designed, out.not_run_reason = _ran(x.spec, log)
    out.collateral = x.collateral
    if log.fired_ns is None:
        out.behaviour, out.behaviour_detail = "not-run", out.not_run_reason or ""
        return out
    if x.spec.action == "scale-out":  # nothing is interrupted: what counts is who ran the rest
        _on_added(out, mine, log.added)
    else:
        out.interrupted = interrupted_tasks(x, mine)
    _timings(out, mine, x.submissions)
    if x.spec.action == "scale-out" and log.undone_ns is not None:
        out.drain_windows = drain_windows(
            [TaskSpan(str(s.get("worker")), s["body_start_ns"], s["body_end_ns"]) for s in mine],
            ScaleOut(
                first_submit_ns=min((s.submit_ns for s in x.submissions), default=log.fired_ns),
                fired_ns=log.fired_ns,
                undone_ns=log.undone_ns,
                added=frozenset(log.added),
                settle_s=x.spec.settling_s(),
            ),
        )
    out.behaviour, out.behaviour_detail = classify(out, x.worker_start_s)
    if log.probe is not None:
        out.probe = probe_verdict(log.probe, x.stamps)
        out.behaviour_detail += "; " + describe_probe(out.probe, log)
    if x.refused_reads:
        out.refused_reads, out.refused_read_example = len(x.refused_reads), x.refused_reads[0]
        out.behaviour_detail += (
            f"; the platform answered {len(x.refused_reads)} of the harness's status reads"
            f" with an error (each asked again), the first: {x.refused_reads[0]}"
        )
    for death in x.collateral:
        out.behaviour_detail += "; " + describe_death(death, log.fired_ns)
    return out


def _ran(spec: FaultSpec, log: FaultLog) -> tuple[bool, str | None]:
    if log.error is not None:
        return False, f"fault operation failed: {log.error}"
    if log.fired_ns is None:
        return False, f"the trigger ({describe_trigger(spec.trigger)}) was not reached before the repetition ended"
    if log.undo_after_s is not None and log.undone_ns is None:
        return False, "the fault was not undone"
    return True, None


def deciding_settings(platform: str, settings: dict[str, Setting]) -> list[str]:
    """Defaults first (what the platforms' claims speak about; each platform's platform.yaml lists them
    under recovery_defaults, as they are not in the adapters' settings), then what the harness set."""
    out = registry.recovery_defaults(platform)
    for key, s in settings.items():
        if any(word in key.lower() for word in DECIDING):
            out.append(f"{key} = {s.value} (default: {s.default}; set by the harness: {s.why})")
    return out


def interrupted_tasks(x: FaultInputs, stamps: list[dict]) -> list[InterruptedTask]:
    """Tasks of the runs in progress at the fault that had not ended by then: for a chain the one
    after the last task ended, for a fan-out every task not ended."""
    fired = x.log.fired_ns
    assert fired is not None
    by_task: dict[tuple[str, int], list[dict]] = {}
    for s in stamps:
        by_task.setdefault((s["workflow_id"], s["index"]), []).append(s)
    out = []
    for sub in x.submissions:
        wf = sub.request.workflow_id
        if sub.submit_ns > fired or sub.done_ns < fired:
            continue
        ended = {i for (w, i), ss in by_task.items() if w == wf and min(s["body_end_ns"] for s in ss) <= fired}
        if sub.request.shape == "chain":
            nxt = len(ended)
            candidates = [nxt] if nxt < sub.request.tasks else []
        else:
            candidates = [i for i in range(sub.request.tasks) if i not in ended]
        eng = {t.index: t for t in (x.engine.get(wf).tasks if x.engine.get(wf) else [])}
        for i in candidates:
            out.append(_interrupted(x, sub, i, by_task, eng.get(i)))
    return out


def _interrupted(
    x: FaultInputs, sub: Submission, index: int, by_task: dict[tuple[str, int], list[dict]], eng: EngineTask | None
) -> InterruptedTask:
    fired = x.log.fired_ns
    assert fired is not None
    wf = sub.request.workflow_id
    prev = by_task.get((wf, index - 1)) if sub.request.shape == "chain" and index > 0 else None
    prev_end = min(s["body_end_ns"] for s in prev) if prev else None
    after = sorted(s["body_start_ns"] for s in by_task.get((wf, index), []) if s["body_start_ns"] >= fired)
    survived = any(s["body_start_ns"] < fired < s["body_end_ns"] for s in by_task.get((wf, index), []))
    started, evidence = None, "cannot be told from end stamps"
    if survived:
        started, evidence = True, "its body started before the fault and ended after it (it survived the fault)"
    elif eng is not None and eng.attempts > 1:
        started, evidence = True, f"the engine counted {eng.attempts} attempts"
    elif eng is not None and eng.started_ns is not None and eng.started_ns > fired:
        started, evidence = False, "the engine recorded its only attempt starting after the fault"
    elif prev_end is not None and x.warmup_transition_max_ns is not None:
        gap, longest = fired - prev_end, x.warmup_transition_max_ns
        started = gap > longest
        evidence = (
            f"the fault came {gap / 1e9:.3f}s after the previous task's end; the warmup's longest "
            f"transition was {longest / 1e9:.3f}s"
        )
    elif eng is not None and eng.started_ns is not None and eng.started_ns <= fired:
        started, evidence = True, "the engine recorded its start before the fault"
    return InterruptedTask(
        workflow_id=wf,
        index=index,
        previous_end_ns=prev_end,
        ended_before_fault=False,
        started_before_fault=started,
        evidence=evidence,
        rerun_start_ns=after[0] if after and not survived else None,
        engine_attempts=eng.attempts if eng else None,
        engine_started_ns=eng.started_ns if eng else None,
    )


def _timings(out: FaultOutcome, stamps: list[dict], submissions: list[Submission]) -> None:
    fired, undone = out.fired_ns, out.undone_ns
    assert fired is not None
    ends = sorted(s["body_end_ns"] for s in stamps)
    after_fault = [e for e in ends if e > fired]
    if after_fault:
        out.first_completion_after_fault_s = (after_fault[0] - fired) / 1e9
    if undone is not None and (after_undo := [e for e in ends if e > undone]):
        out.first_completion_after_undo_s = (after_undo[0] - undone) / 1e9
    last = max([*ends, *(s.done_ns for s in submissions)], default=None)
    if last is not None:
        out.fault_to_end_s = max(0.0, (last - fired) / 1e9)
    start = min((s.submit_ns for s in submissions), default=fired)
    back = undone if undone is not None else fired
    out.throughput = Throughput(
        before=_rate(ends, start, fired),
        during=_rate(ends, fired, back),
        after=_rate(ends, back, max(ends, default=back)),
    )


def _rate(ends: list[int], lo: int, hi: int) -> float | None:
    if hi <= lo:
        return None
    return sum(1 for e in ends if lo < e <= hi) / ((hi - lo) / 1e9)


def classify(out: FaultOutcome, worker_start_s: float | None) -> tuple[str, str]:
    """The platform's behaviour, worst first; the detail gives the figures it rests on."""
    if out.runs_failed:
        return "failed-run", f"{out.runs_failed} workflow run(s) ended failed after the fault"
    stuck = [t for t in out.interrupted if t.rerun_start_ns is None and t.started_before_fault is not False]
    if out.runs_unfinished and stuck:
        what = ", ".join(f"task {t.index}" for t in stuck[:5]) or "the run"
        counted = sorted({t.engine_attempts for t in stuck if t.engine_attempts and t.engine_attempts > 1})
        engine = f" (the engine counted {counted} attempts, but no body ran again)" if counted else ""
        return "waited-until-timeout", (
            f"{what} not run again{engine} and {out.runs_unfinished} run(s) not final "
            f"within the harness's limit of {out.timeout_s:g}s"
        )
    if out.tasks_lost and not out.runs_unfinished:
        return "lost", f"{out.tasks_lost} task(s) never ran although the runs completed"
    # A task that had not started at the fault was not interrupted: it merely ran after it.
    reruns = [t for t in out.interrupted if t.rerun_start_ns is not None and t.started_before_fault is not False]
    if reruns:
        return _rerun(out, reruns, worker_start_s)
    if out.runs_unfinished:
        return "waited-until-timeout", f"{out.runs_unfinished} run(s) not final within the limit of {out.timeout_s:g}s"
    if out.tasks_duplicated:
        return "duplicated", f"{out.tasks_duplicated} task bodies ran more than once"
    if out.action == "scale-out":
        return _scaled(out)
    return "unaffected", "every task ran exactly once and every run completed"


def _on_added(out: FaultOutcome, stamps: list[dict], added: list[str]) -> None:
    out.added_workers = list(added)
    starts = [s["body_start_ns"] for s in stamps if s.get("worker") in added]
    out.tasks_on_added = len(starts)
    if starts and out.undone_ns is not None:
        out.first_task_on_added_s = max(0.0, (min(starts) - out.undone_ns) / 1e9)


def _scaled(out: FaultOutcome) -> tuple[str, str]:
    """Whether the workers added mid-workload took work, and what it did to the rate tasks ended at."""
    t, names = out.throughput, ", ".join(out.added_workers)
    rate = (
        (
            f"; tasks ended at {t.before:.2f}/s before the scale-out and {t.after:.2f}/s once the added "
            f"worker(s) were started (x{t.after / t.before:.2f})"
        )
        if t.before and t.after
        else ""
    )
    if out.tasks_on_added:
        return "used-added-workers", (
            f"{out.tasks_on_added} of {out.tasks_expected} task bodies ran on the added "
            f"worker(s) {names}, the first {out.first_task_on_added_s or 0:.2f}s after "
            f"they were started{rate}"
        )
    return "ignored-added-workers", f"no task body ran on the added worker(s) {names}{rate}"


def _rerun(out: FaultOutcome, reruns: list[InterruptedTask], worker_start_s: float | None) -> tuple[str, str]:
    """Reassigned at once, or retried once a timeout passed: how long after a worker was there again."""
    available = max(out.fired_ns or 0, out.undone_ns or 0) if out.action == "kill" else (out.fired_ns or 0)
    slowest = max(t.rerun_start_ns - available for t in reruns) / 1e9
    first = min(t.rerun_start_ns for t in reruns) - (out.fired_ns or 0)
    window = REASSIGN_WINDOW_S + (worker_start_s or 0.0)
    kind = "reassigned" if slowest <= window else "retried-after-timeout"
    attempts = sorted({t.engine_attempts for t in reruns if t.engine_attempts is not None})
    dup = f"; {out.tasks_duplicated} task bodies ran twice" if out.tasks_duplicated else ""
    if out.runs_unfinished:  # seen while the engine's records were read, after the harness's limit
        dup += f"; {out.runs_unfinished} run(s) not final within the limit of {out.timeout_s:g}s"
    return kind, (
        f"{len(reruns)} interrupted task(s) ran again {first / 1e9:.1f}s after the fault, the last "
        f"{slowest:.1f}s after a worker was there again (window {window:.1f}s); "
        f"engine attempts {attempts or 'not recorded'}{dup}"
    )


def warmup_transition_max_ns(task_rows: list) -> int | None:
    """The longest chain transition (previous end stamp -> next start stamp) of the warmup repetitions."""
    by_wf: dict[str, list] = {}
    for r in task_rows:
        if r["warmup"] and r["shape"] == "chain":
            by_wf.setdefault(r["workflow_id"], []).append(r)
    gaps = [
        b["body_start_ns"] - a["body_end_ns"]
        for rows in by_wf.values()
        for a, b in zip(sorted(rows, key=lambda r: r["index"]), sorted(rows, key=lambda r: r["index"])[1:])
    ]
    return max(gaps) if gaps else None
