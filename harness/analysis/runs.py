"""From raw samples to verdicts and statistics. Pure functions over rows and DataFrames,
used both when a run finishes and when the report re-reads results/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import pandas as pd

from harness.analysis import stats
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.record import EngineAnomalies, Repetition, ResourceSummaryRow, RunRecord, Summary
from harness.model.spec import Workload

TASK_ENGINE_FIELDS = ("created_ns", "queued_ns", "started_ns", "finished_ns")
MAX_REASONS = 20  # a repetition where everything failed would otherwise list every task

# Latency metrics, each defined in the README.
LATENCY_METRICS = {
    "submit_to_first_start": "harness submit -> first line of the workflow's first task body",
    "engine_queue_to_start": "engine: task queued/scheduled -> task started",
    "transition": "chain: previous task body ended -> next task body started",
    "workflow_e2e": "harness submit -> harness saw the workflow complete",
    "engine_workflow_start": "engine: workflow run created/scheduled -> workflow run started",
}


@dataclass
class Submission:
    """One workflow run as the driver submitted and waited for it (harness clock, epoch ns)."""

    request: WorkflowRequest
    handle: Any  # whatever the adapter's submit() returned
    submit_ns: int
    done_ns: int
    status: str  # what the adapter's wait() returned, or "timeout"


class TaskRow(TypedDict):
    """One task body: a row of tasks.parquet."""

    repetition: int
    phase: str
    warmup: bool
    workflow_id: str
    shape: str
    index: int
    pid: int
    worker: str | None  # the harness worker service it ran under (None: the platform's own process)
    submit_ns: int
    body_start_ns: int
    body_end_ns: int
    engine_created_ns: int | None
    engine_queued_ns: int | None
    engine_started_ns: int | None
    engine_finished_ns: int | None
    engine_attempts: int | None


class WorkflowRow(TypedDict):
    """One workflow run: a row of workflows.parquet."""

    repetition: int
    phase: str
    warmup: bool
    workflow_id: str
    submit_ns: int
    done_ns: int
    status: str
    engine_status: str | None
    engine_created_ns: int | None
    engine_started_ns: int | None
    engine_finished_ns: int | None
    tasks_expected: int
    tasks_completed: int
    duplicates: int


@dataclass
class Assembled:
    """One repetition joined and judged: its raw rows and its verdict."""

    task_rows: list[TaskRow]
    workflow_rows: list[WorkflowRow]
    repetition: Repetition


def frame(rows: list[dict] | list[TaskRow] | list[WorkflowRow]) -> pd.DataFrame:
    """Rows as a DataFrame; epoch-nanosecond columns stay exact integers (nullable), not floats."""
    df = pd.DataFrame(rows)
    for col in df.columns:
        if col.endswith("_ns"):
            df[col] = df[col].astype("Int64")
    return df


@dataclass
class _Tally:
    """What judging the workflows of one repetition accumulates."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    completed: int = 0
    duplicates: int = 0
    missing_records: int = 0
    status_mismatch: int = 0
    task_rows: list[TaskRow] = field(default_factory=list)
    workflow_rows: list[WorkflowRow] = field(default_factory=list)


def assemble(
    rep: int,
    phase: str,
    warmup: bool,
    workload: Workload,
    submissions: list[Submission],
    stamps: list[dict],
    engine: dict[str, EngineWorkflow],
    failure: str | None = None,
) -> Assembled:
    """Join stamps with engine records for one repetition and judge it.

    The stamps from inside the task bodies decide correctness (every task ran exactly once, in
    order). Gaps in the engine's own bookkeeping (a task it did not record, a run it still shows
    as running) are counted and noted as engine-record anomalies, not failures. `failure` is the
    driver's own reason (a wait that timed out), put first."""
    by_wf: dict[str, list[dict]] = {}
    for s in stamps:
        by_wf.setdefault(s["workflow_id"], []).append(s)
    tally = _Tally(reasons=[failure] if failure else [])
    for sub in submissions:
        _judge_workflow(
            rep, phase, warmup, sub, by_wf.get(sub.request.workflow_id, []), engine.get(sub.request.workflow_id), tally
        )
    anomalies = EngineAnomalies(
        **engine_anomalies(tally.task_rows), missing_record=tally.missing_records, status_mismatch=tally.status_mismatch
    )
    if len(submissions) < workload.runs:
        tally.reasons.append(f"only {len(submissions)} of {workload.runs} workflow runs submitted")
    window_s = None
    if tally.task_rows:
        first_submit = min(sub.submit_ns for sub in submissions)
        window_s = (max(r["body_end_ns"] for r in tally.task_rows) - first_submit) / 1e9
    verdict = Repetition(
        repetition=rep,
        phase=phase,
        warmup=warmup,
        status="failed" if tally.reasons else "ok",
        reasons=tally.reasons[:MAX_REASONS],
        notes=tally.notes[:MAX_REASONS],
        tasks_expected=workload.tasks * workload.runs,
        tasks_completed=tally.completed,
        duplicates=tally.duplicates,
        engine_anomalies=anomalies,
        window_s=window_s,
        throughput_tasks_per_s=tally.completed / window_s if window_s and not tally.reasons else None,
    )
    return Assembled(tally.task_rows, tally.workflow_rows, verdict)


def _judge_workflow(
    rep: int, phase: str, warmup: bool, sub: Submission, stamps: list[dict], eng: EngineWorkflow | None, tally: _Tally
) -> None:
    req, wf = sub.request, sub.request.workflow_id
    eng_tasks = {t.index: t for t in (eng.tasks if eng else [])}
    mine = sorted(stamps, key=lambda s: (s["index"], s["body_start_ns"]))
    unique = {s["index"] for s in mine}
    dup = len(mine) - len(unique)
    retried = sum(1 for t in eng_tasks.values() if t.attempts > 1)
    missing = req.tasks - len(unique & set(range(req.tasks)))
    tally.completed += len(unique)
    tally.duplicates += dup
    if sub.status != "completed":
        tally.reasons.append(f"{wf}: status {sub.status}")
    if eng is not None and eng.records_error is not None:
        tally.reasons.append(f"{wf}: engine records unavailable: {eng.records_error}")
    elif eng is not None and eng.status != sub.status:
        tally.status_mismatch += 1
        tally.notes.append(f"{wf}: the engine's records say {eng.status}, its result said {sub.status}")
    if missing:
        tally.reasons.append(f"{wf}: {missing} of {req.tasks} tasks missing")
    if dup or retried:
        tally.reasons.append(f"{wf}: {dup} duplicated task bodies, {retried} retried tasks")
    if len(eng_tasks) < req.tasks and sub.status == "completed":
        tally.missing_records += req.tasks - len(eng_tasks)
        tally.notes.append(f"{wf}: the engine recorded {len(eng_tasks)} of {req.tasks} tasks")
    prev_end = None
    for s in mine:
        if not sub.submit_ns <= s["body_start_ns"] <= s["body_end_ns"]:
            tally.reasons.append(f"{wf} task {s['index']}: stamps out of order (submit <= start <= end)")
        if req.shape == "chain" and prev_end is not None and s["body_start_ns"] < prev_end:
            tally.reasons.append(f"{wf} task {s['index']}: overlaps the previous task of the chain")
        prev_end = s["body_end_ns"]
        tally.task_rows.append(_task_row(rep, phase, warmup, sub, s, eng_tasks.get(s["index"])))
    tally.workflow_rows.append(_workflow_row(rep, phase, warmup, sub, eng, len(unique), dup))


def _task_row(rep: int, phase: str, warmup: bool, sub: Submission, s: dict, et: EngineTask | None) -> TaskRow:
    """One task's row: its stamps, and the engine's record of it where there is one."""
    return TaskRow(
        repetition=rep,
        phase=phase,
        warmup=warmup,
        workflow_id=sub.request.workflow_id,
        shape=sub.request.shape,
        index=s["index"],
        pid=s["pid"],
        worker=s.get("worker"),
        submit_ns=sub.submit_ns,
        body_start_ns=s["body_start_ns"],
        body_end_ns=s["body_end_ns"],
        engine_created_ns=et.created_ns if et else None,
        engine_queued_ns=et.queued_ns if et else None,
        engine_started_ns=et.started_ns if et else None,
        engine_finished_ns=et.finished_ns if et else None,
        engine_attempts=et.attempts if et else None,
    )


def _workflow_row(
    rep: int, phase: str, warmup: bool, sub: Submission, eng: EngineWorkflow | None, completed: int, dup: int
) -> WorkflowRow:
    """One workflow run's row: its result, and the engine's record of it where there is one."""
    return WorkflowRow(
        repetition=rep,
        phase=phase,
        warmup=warmup,
        workflow_id=sub.request.workflow_id,
        submit_ns=sub.submit_ns,
        done_ns=sub.done_ns,
        status=sub.status,
        engine_status=eng.status if eng else None,
        engine_created_ns=eng.created_ns if eng else None,
        engine_started_ns=eng.started_ns if eng else None,
        engine_finished_ns=eng.finished_ns if eng else None,
        tasks_expected=sub.request.tasks,
        tasks_completed=completed,
        duplicates=dup,
    )


def engine_anomalies(task_rows: list[TaskRow]) -> dict[str, int]:
    """Tasks whose engine record lacks a start time, or whose engine times are out of order
    (queued > started or started > finished). The stamps decide whether a task ran; these count
    how far the engine's own bookkeeping can be trusted, and are left out of engine latencies.
    A task with no engine record at all is counted by the caller as a missing record."""
    missing = disordered = 0
    for r in task_rows:
        q, st, fin = r.get("engine_queued_ns"), r.get("engine_started_ns"), r.get("engine_finished_ns")
        if q is None and st is None and fin is None:
            continue
        if st is None:
            missing += 1
        elif (q is not None and q > st) or (fin is not None and st > fin):
            disordered += 1
    return {"missing_start": missing, "out_of_order": disordered}


def latency_samples(tasks: pd.DataFrame, workflows: pd.DataFrame, reps: set[int]) -> dict[str, pd.Series]:
    """Raw per-sample values (ns) for each latency metric, over the given repetitions only."""
    out = {m: pd.Series(dtype="float64") for m in LATENCY_METRICS}
    if tasks.empty:
        return out
    t = tasks[tasks["repetition"].isin(reps)]
    w = workflows[workflows["repetition"].isin(reps)] if not workflows.empty else workflows
    if t.empty:
        return out
    first = t.groupby("workflow_id").agg(start=("body_start_ns", "min"), submit=("submit_ns", "first"))
    out["submit_to_first_start"] = (first["start"] - first["submit"]).astype("float64")
    eng = t.dropna(subset=["engine_queued_ns", "engine_started_ns"])
    if "engine_finished_ns" in eng:  # out-of-order engine records are counted as anomalies instead
        eng = eng[eng["engine_finished_ns"].isna() | (eng["engine_started_ns"] <= eng["engine_finished_ns"])]
    out["engine_queue_to_start"] = (eng["engine_started_ns"] - eng["engine_queued_ns"]).astype("float64")
    chains = t[t["shape"] == "chain"].sort_values(["workflow_id", "index"])
    if not chains.empty:
        prev_end = chains.groupby("workflow_id")["body_end_ns"].shift(1)
        out["transition"] = (chains["body_start_ns"] - prev_end).dropna().astype("float64")
    if not w.empty:
        out["workflow_e2e"] = (w["done_ns"] - w["submit_ns"]).astype("float64")
        ew = w.dropna(subset=["engine_created_ns", "engine_started_ns"])
        out["engine_workflow_start"] = (ew["engine_started_ns"] - ew["engine_created_ns"]).astype("float64")
    return out


def resource_table(resources: pd.DataFrame) -> pd.DataFrame:
    """mean / p95 / max CPU % and RSS per (phase kind, service)."""
    if resources.empty:
        return pd.DataFrame()
    r = resources.copy()
    r["kind"] = r["phase"].map(phase_kind)
    r["rss_mb"] = r["rss_bytes"] / 2**20
    r["pss_mb"] = (r["pss_bytes"] if "pss_bytes" in r else r["rss_bytes"] * float("nan")) / 2**20
    g = r.groupby(["kind", "service", "role"])
    table = g.agg(
        cpu_mean_pct=("cpu_pct", "mean"),
        cpu_p95_pct=("cpu_pct", lambda s: s.quantile(0.95)),
        cpu_max_pct=("cpu_pct", "max"),
        rss_mean_mb=("rss_mb", "mean"),
        rss_p95_mb=("rss_mb", lambda s: s.quantile(0.95)),
        rss_max_mb=("rss_mb", "max"),
        pss_mean_mb=("pss_mb", "mean"),
        pss_max_mb=("pss_mb", "max"),
        samples=("rss_mb", "size"),
    )
    return table.reset_index()


def phase_kind(phase: str) -> str:
    if phase.startswith("rep-"):
        return "measured"
    if phase.startswith("warmup-"):
        return "warmup"
    return phase


def summarize_tables(
    record: RunRecord, tasks: pd.DataFrame, workflows: pd.DataFrame, resources: pd.DataFrame
) -> Summary:
    """Every figure of a run, recomputed from its raw tables over the measured repetitions that
    passed validation (the only ones any statistic uses)."""
    reps = record.ok_measured()
    latency = {m: stats.latency_summary(v.tolist()) for m, v in latency_samples(tasks, workflows, reps).items()}
    per_rep_p50 = []
    for rep in sorted(reps):
        s = latency_samples(tasks, workflows, {rep})["submit_to_first_start"]
        per_rep_p50.append(float(s.median()) / 1e6 if len(s) else None)
    counted = [r for r in record.repetitions if r.repetition in reps]
    anomalies = EngineAnomalies()
    for r in counted:
        if r.engine_anomalies is not None:
            for name in EngineAnomalies.model_fields:
                setattr(anomalies, name, getattr(anomalies, name) + getattr(r.engine_anomalies, name))
    res = resource_table(resources)
    return Summary(
        measured_repetitions_ok=len(reps),
        measured_repetitions_failed=sum(1 for r in record.repetitions if not r.warmup and r.status != "ok"),
        latency_ms=latency,
        submit_to_first_start_p50_by_repetition_ms=stats.spread(per_rep_p50),
        throughput_tasks_per_s=stats.spread(r.throughput_tasks_per_s for r in counted),
        engine_anomalies=anomalies,
        resources=[ResourceSummaryRow.model_validate(row) for row in res.to_dict(orient="records")],
        busy_repetitions=[r.repetition for r in record.busy_repetitions() if not r.warmup],
    )


def critical_path_s(tasks: pd.DataFrame, reps: set[int]) -> pd.Series:
    """Seconds from the first task started to the last task finished, per workflow run, as the engine
    recorded them, over the given repetitions. A workflow run with a task the engine did not record
    (or recorded without a start or finish, or out of order) is left out: its path is unknown."""
    cols = {"workflow_id", "repetition", "engine_started_ns", "engine_finished_ns"}
    if tasks.empty or not cols <= set(tasks.columns):
        return pd.Series(dtype="float64")
    t = tasks[tasks["repetition"].isin(reps)]
    start, finish = t["engine_started_ns"], t["engine_finished_ns"]
    usable = start.notna() & finish.notna() & (start <= finish).fillna(False)
    complete = usable.groupby(t["workflow_id"]).all()
    g = t[t["workflow_id"].isin(complete[complete].index)].groupby("workflow_id")
    paths = (g["engine_finished_ns"].max() - g["engine_started_ns"].min()).astype("float64") / 1e9
    return paths.reset_index(drop=True)
