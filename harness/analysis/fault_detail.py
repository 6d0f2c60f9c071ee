"""The sentences a fault outcome's behaviour detail adds for what happened beside the fault: the run
submitted while it was in force (the probe, and its verdict), and other services that died meanwhile."""

from __future__ import annotations

from harness.model.fault_record import CollateralDeath, FaultLog, SubmissionProbe


def describe_death(death: CollateralDeath, fired_ns: int | None) -> str:
    gap_s = (death.seen_ns - fired_ns) / 1e9 if fired_ns is not None else None
    when = "" if gap_s is None else f", seen {abs(gap_s):.1f}s {'after' if gap_s >= 0 else 'before'} the fault"
    again = (
        f"; started again after the repetition in {death.started_again_s:.1f}s"
        if death.started_again_s is not None
        else ""
    )
    return f"{death.service} died too (exit code {death.exit_code}{when}: {death.last_log_line!r}){again}"


def probe_verdict(probe: SubmissionProbe, stamps: list[dict]) -> SubmissionProbe:
    """Refused or no-answer from the answer; queued, failed or lost from the run's fate and its stamps."""
    ends = [s["body_end_ns"] for s in stamps if s["workflow_id"] == probe.workflow_id]
    done = probe.model_copy(update={"ended_ns": max(ends) if ends else None})
    status = probe.final_status or ""
    if probe.http_status is None or probe.http_status >= 400:
        done.verdict = "refused" if probe.answered_ns is not None else "no-answer"
    elif status == "completed":
        done.verdict = "queued" if ends else "lost"
    elif status in ("timeout", "not found"):
        done.verdict = "lost"
    elif not status.startswith("unknown"):
        done.verdict = "failed"
    return done


def describe_probe(p: SubmissionProbe, log: FaultLog) -> str:
    sent = (p.sent_ns - (p.sent_ns if log.fired_ns is None else log.fired_ns)) / 1e9
    when = (
        "while the fault was in force"
        if log.undone_ns is None or p.sent_ns < log.undone_ns
        else "just after the fault was undone"
    )
    head = f"a run submitted {sent:.1f}s after the fault ({when})"
    answer = (f"answered in {(p.answered_ns - p.sent_ns) / 1e9:.2f}s" if p.answered_ns is not None else "no answer") + (
        f" after {p.retries} retries" if p.retries else ""
    )
    if p.verdict in ("refused", "no-answer"):
        return f"{head} was {p.verdict} ({answer}: {p.error})"
    fate = (
        f"its task ended {(p.ended_ns - p.sent_ns) / 1e9:.1f}s after it was sent"
        if p.ended_ns
        else f"final status {p.final_status}"
    )
    return f"{head} was {p.verdict or 'of unknown fate'} ({answer}; {fate})"
