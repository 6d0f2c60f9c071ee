"""From raw samples to verdicts and statistics. Pure functions over rows and DataFrames,
used both when a run finishes and when the report re-reads results/."""
from __future__ import annotations

import pandas as pd

from . import stats

TASK_ENGINE_FIELDS = ("created_ns", "queued_ns", "started_ns", "finished_ns")

# Latency metrics, each defined in the README.
LATENCY_METRICS = {
    "submit_to_first_start": "harness submit -> first line of the workflow's first task body",
    "engine_queue_to_start": "engine: task queued/scheduled -> task started",
    "transition": "chain: previous task body ended -> next task body started",
    "workflow_e2e": "harness submit -> harness saw the workflow complete",
    "engine_workflow_start": "engine: workflow run created/scheduled -> workflow run started",
}


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame; epoch-nanosecond columns stay exact integers (nullable), not floats."""
    df = pd.DataFrame(rows)
    for col in df.columns:
        if col.endswith("_ns"):
            df[col] = df[col].astype("Int64")
    return df


def assemble(rep: int, phase: str, warmup: bool, workload, handles, stamps: list[dict], engine: dict):
    """Join stamps with engine records for one repetition and judge it.

    The stamps from inside the task bodies decide correctness (every task ran exactly once, in
    order). Gaps in the engine's own bookkeeping (a task it did not record, a run it still shows
    as running) are counted and noted as engine-record anomalies, not failures."""
    reasons: list[str] = []
    notes: list[str] = []
    status_mismatch = missing_records = 0
    by_wf: dict[str, list[dict]] = {}
    for s in stamps:
        by_wf.setdefault(s["workflow_id"], []).append(s)
    task_rows, wf_rows = [], []
    completed = duplicates = 0
    for req, _handle, submit_ns, done_ns, status in handles:
        eng = engine.get(req.workflow_id)
        eng_tasks = {t.index: t for t in (eng.tasks if eng else [])}
        mine = sorted(by_wf.get(req.workflow_id, []), key=lambda s: (s["index"], s["body_start_ns"]))
        indexes = [s["index"] for s in mine]
        unique = set(indexes)
        dup = len(indexes) - len(unique)
        retried = sum(1 for t in eng_tasks.values() if t.attempts > 1)
        missing = req.tasks - len(unique & set(range(req.tasks)))
        completed += len(unique)
        duplicates += dup
        if status != "completed":
            reasons.append(f"{req.workflow_id}: status {status}")
        if eng is not None and eng.status.startswith("records unavailable"):
            reasons.append(f"{req.workflow_id}: engine {eng.status}")
        elif eng is not None and eng.status != status:
            status_mismatch += 1
            notes.append(f"{req.workflow_id}: the engine's records say {eng.status}, its result said {status}")
        if missing:
            reasons.append(f"{req.workflow_id}: {missing} of {req.tasks} tasks missing")
        if dup or retried:
            reasons.append(f"{req.workflow_id}: {dup} duplicated task bodies, {retried} retried tasks")
        if len(eng_tasks) < req.tasks and status == "completed":
            missing_records += req.tasks - len(eng_tasks)
            notes.append(f"{req.workflow_id}: the engine recorded {len(eng_tasks)} of {req.tasks} tasks")
        prev_end = None
        for s in mine:
            if not submit_ns <= s["body_start_ns"] <= s["body_end_ns"]:
                reasons.append(f"{req.workflow_id} task {s['index']}: stamps out of order (submit <= start <= end)")
            if req.shape == "chain" and prev_end is not None and s["body_start_ns"] < prev_end:
                reasons.append(f"{req.workflow_id} task {s['index']}: overlaps the previous task of the chain")
            prev_end = s["body_end_ns"]
            et = eng_tasks.get(s["index"])
            task_rows.append({
                "repetition": rep, "phase": phase, "warmup": warmup, "workflow_id": req.workflow_id,
                "shape": req.shape, "index": s["index"], "pid": s["pid"], "submit_ns": submit_ns,
                "body_start_ns": s["body_start_ns"], "body_end_ns": s["body_end_ns"],
                **{f"engine_{f}": getattr(et, f) if et else None for f in TASK_ENGINE_FIELDS},
                "engine_attempts": et.attempts if et else None,
            })
        wf_rows.append({
            "repetition": rep, "phase": phase, "warmup": warmup, "workflow_id": req.workflow_id,
            "submit_ns": submit_ns, "done_ns": done_ns, "status": status,
            "engine_status": eng.status if eng else None,
            "engine_created_ns": eng.created_ns if eng else None, "engine_started_ns": eng.started_ns if eng else None,
            "engine_finished_ns": eng.finished_ns if eng else None,
            "tasks_expected": req.tasks, "tasks_completed": len(unique), "duplicates": dup,
        })
    anomalies = {**engine_anomalies(task_rows), "missing_record": missing_records, "status_mismatch": status_mismatch}
    expected = workload.tasks * workload.runs
    if len(handles) < workload.runs:
        reasons.append(f"only {len(handles)} of {workload.runs} workflow runs submitted")
    window_s = None
    if task_rows:
        window_s = (max(r["body_end_ns"] for r in task_rows) - min(h[2] for h in handles)) / 1e9
    return task_rows, wf_rows, {
        "status": "failed" if reasons else "ok", "reasons": reasons[:20], "notes": notes[:20],
        "tasks_expected": expected, "tasks_completed": completed, "duplicates": duplicates,
        "engine_anomalies": anomalies, "window_s": window_s,
        "throughput_tasks_per_s": completed / window_s if window_s and not reasons else None,
    }


def engine_anomalies(task_rows: list[dict]) -> dict:
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


def ok_measured(run_doc: dict) -> set[int]:
    return {r["repetition"] for r in run_doc.get("repetitions", []) if not r["warmup"] and r["status"] == "ok"}


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
    table = g.agg(cpu_mean_pct=("cpu_pct", "mean"), cpu_p95_pct=("cpu_pct", lambda s: s.quantile(0.95)),
                  cpu_max_pct=("cpu_pct", "max"), rss_mean_mb=("rss_mb", "mean"),
                  rss_p95_mb=("rss_mb", lambda s: s.quantile(0.95)), rss_max_mb=("rss_mb", "max"),
                  pss_mean_mb=("pss_mb", "mean"), pss_max_mb=("pss_mb", "max"),
                  samples=("rss_mb", "size"))
    return table.reset_index()


def phase_kind(phase: str) -> str:
    if phase.startswith("rep-"):
        return "measured"
    if phase.startswith("warmup-"):
        return "warmup"
    return phase


def summarize_tables(run_doc: dict, tasks: pd.DataFrame, workflows: pd.DataFrame, resources: pd.DataFrame) -> dict:
    reps = ok_measured(run_doc)
    latency = {m: stats.latency_summary(v.tolist()) for m, v in latency_samples(tasks, workflows, reps).items()}
    per_rep_p50 = []
    for rep in sorted(reps):
        s = latency_samples(tasks, workflows, {rep})["submit_to_first_start"]
        per_rep_p50.append(float(s.median()) / 1e6 if len(s) else None)
    throughput = [r.get("throughput_tasks_per_s") for r in run_doc.get("repetitions", [])
                  if r["repetition"] in reps]
    res = resource_table(resources)
    return {
        "measured_repetitions_ok": len(reps),
        "measured_repetitions_failed": sum(1 for r in run_doc.get("repetitions", [])
                                           if not r["warmup"] and r["status"] != "ok"),
        "latency_ms": latency,
        "submit_to_first_start_p50_by_repetition_ms": stats.spread(per_rep_p50),
        "throughput_tasks_per_s": stats.spread(throughput),
        "engine_anomalies": {k: sum((r.get("engine_anomalies") or {}).get(k, 0) for r in run_doc.get("repetitions", [])
                                    if r["repetition"] in reps)
                             for k in ("missing_record", "missing_start", "out_of_order", "status_mismatch")},
        "resources": res.to_dict(orient="records") if not res.empty else [],
    }
