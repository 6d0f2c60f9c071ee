"""The report's fault table: what the platform did in each measured fault repetition, from the
outcomes analysis/faults.py recorded (report/page.py finds it as harness.analysis.faults.fault_report_context)."""

from __future__ import annotations


def fault_report_context(cells: dict) -> dict:
    """The fault table for the report (templates/faults.md.j2 reads it as `faults`): one row per
    measured repetition of every fault workload's run, keyed like the report's cells by
    (platform, stack label, workload). Repetitions whose experiment did not run are listed apart."""
    rows, not_run = [], []
    for (platform, label, workload), cell in sorted(cells.items(), key=lambda kv: kv[0]):
        record = cell.record
        for rep in record.repetitions:
            f = rep.fault
            if rep.warmup or f is None:
                continue
            row = {
                "platform": platform,
                "stack": label,
                "workload": workload,
                "run_id": record.run_id,
                "repetition": rep.phase,
                "scenario": f.scenario,
                "service": f.service or "–",
                "operation": "+".join(op.operation for op in f.operations) or f.action,
                "undo_after_s": f.undo_after_s,
                "lost": f.tasks_lost,
                "duplicated": f.tasks_duplicated,
                "expected": f.tasks_expected,
                "runs_failed": f.runs_failed,
                "runs_unfinished": f.runs_unfinished,
                "recovery_s": f.first_completion_after_fault_s,
                "after_undo_s": f.first_completion_after_undo_s,
                "to_end_s": f.fault_to_end_s,
                "behaviour": f.behaviour,
                "detail": f.behaviour_detail,
                "timeout_s": f.timeout_s,
                "verdict": rep.status,
                "decided_by": f.decided_by,
                "submitted_during": f.probe.verdict or "unknown" if f.probe else None,
                "collateral": ", ".join(d.service for d in f.collateral),
            }
            (rows if f.ran_as_designed else not_run).append({**row, "reason": f.not_run_reason})
    settings = {}
    for row in rows:
        settings.setdefault(row["platform"], row["decided_by"])
    return {"rows": rows, "not_run": not_run, "settings": settings}
