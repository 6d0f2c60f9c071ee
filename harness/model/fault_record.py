"""What a fault repetition recorded (run.json -> repetitions[].fault): the fault as it was done, and
what the platform did about it. Its own module so that record.py stays the run's skeleton; the
models follow record.py's rules (strict, validated on assignment, no NaN)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What the platform did with the work the fault interrupted; see fault_analysis.classify.
Behaviour = Literal[
    "unaffected",  # every task ran exactly once and the runs completed
    "reassigned",  # the interrupted task ran again within REASSIGN_WINDOW_S of a worker being there
    "retried-after-timeout",  # it ran again, later than that: a timeout decided when
    "failed-run",  # the platform ended the workflow run as failed
    "waited-until-timeout",  # nothing happened until the harness's limit (timeout_s) ended the wait
    "lost",  # a run completed without some of its tasks
    "duplicated",  # tasks ran more than once (and nothing worse)
    "used-added-workers",  # scale-out: tasks ran on the workers added mid-workload
    "ignored-added-workers",  # scale-out: the added workers ran no task
    "not-run",  # the experiment did not happen as designed (see not_run_reason)
]

# What became of a run submitted during the fault; see fault_analysis.probe_verdict.
ProbeVerdict = Literal[
    "refused",  # an error answer (or the connection refused): the client knows it must submit again
    "no-answer",  # no answer within the limit: the client cannot tell whether the run exists
    "queued",  # accepted, and its task ran once the platform could run it
    "failed",  # accepted, and the platform ended the run as failed
    "lost",  # accepted, and never ran within timeout_s
]

# What a fault outcome measures, as of the harness that wrote it: 1 before the run submitted during
# the fault (probe) and the services that died besides the target (collateral), 2 since. A run with
# an older outcome is not "done" for `bench faults --skip-done`, so the campaign measures it again.
FAULT_MEASURES = 2


class _FaultModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class FaultOperation(_FaultModel):
    """One stack operation the fault runner did, harness clock (epoch ns) around the call."""

    operation: str  # kill(SIGKILL) | start | restart | pause | resume
    service: str
    start_ns: int
    end_ns: int  # the call returned: killed and exited, ready again, frozen, thawed
    error: str | None = None


class InterruptedTask(_FaultModel):
    """A task that was in its body when the fault fired, and what became of it."""

    workflow_id: str
    index: int
    previous_end_ns: int | None = None  # chain: the previous task's end stamp
    ended_before_fault: bool  # an end stamp at or before the fault: it was not interrupted after all
    started_before_fault: bool | None  # None: cannot be told
    evidence: str  # how started_before_fault was decided
    rerun_start_ns: int | None = None  # body start of the stamp that completed it after the fault
    engine_attempts: int | None = None  # the engine's attempt count for the task
    engine_started_ns: int | None = None  # the engine's start of its last attempt


class Throughput(_FaultModel):
    """Task bodies ended per second in a window of the repetition (None: the window is empty)."""

    before: float | None = None  # first submit -> fault
    during: float | None = None  # fault -> undone (restart, scale-out: the call's duration)
    after: float | None = None  # undone -> last end stamp


class DrainWindow(_FaultModel):
    """A scale-out's before and after rates under one window choice (analysis/drain.py WINDOWS)."""

    name: str
    before_per_s: float | None = None
    after_per_s: float | None = None
    speedup: float | None = None  # after / before; None when either window holds no figure


class SubmissionProbe(_FaultModel):
    """One workflow run (one task) submitted while the fault was in force, as a client would (fault_probe.py)."""

    workflow_id: str
    sent_ns: int
    answered_ns: int | None = None  # None: no answer within the probe's limit
    http_status: int | None = None
    retries: int = 0  # answers the platform's own client would have retried
    error: str | None = None  # the refusal or the transport error, one line
    final_status: str | None = None  # accepted: the run's status at the end (or "timeout")
    ended_ns: int | None = None  # its task body's end stamp
    verdict: ProbeVerdict | None = None


class CollateralDeath(_FaultModel):
    """A service the fault did not stop that exited during the repetition."""

    service: str
    exit_code: int | None = None
    seen_ns: int  # when the harness saw it dead (it checks every 0.2 s)
    last_log_line: str = ""
    started_again_s: float | None = None  # how long starting it again after the repetition took


class FaultOutcome(_FaultModel):
    measures: int  # FAULT_MEASURES of the harness that wrote it (see _measured_before)
    scenario: str
    action: str
    service: str | None = None  # the service hit (None if none could be chosen)
    role: str | None = None
    trigger: str  # the trigger as written, e.g. "mid_task=2 +0.2s"
    undo_after_s: float | None = None  # this repetition's delay before the undo; None: never undone
    fired_ns: int | None = None
    undone_ns: int | None = None
    operations: list[FaultOperation] = Field(default_factory=list)
    ran_as_designed: bool = False  # fired (and undone where asked) without an error of the harness's own
    not_run_reason: str | None = None
    timeout_s: float  # the harness's limit for one workflow run ("waits forever" past it)
    tasks_expected: int = 0
    tasks_lost: int = 0  # never completed (no end stamp)
    tasks_duplicated: int = 0  # task bodies that ended more than once
    engine_retried: int = 0  # tasks the engine counts more than one attempt for
    runs_failed: int = 0  # the platform said failed
    runs_unfinished: int = 0  # not final within timeout_s, or never submitted
    behaviour: Behaviour = "not-run"
    behaviour_detail: str = ""
    decided_by: list[str] = Field(default_factory=list)  # the settings that decided it (defaults first)
    interrupted: list[InterruptedTask] = Field(default_factory=list)
    first_completion_after_fault_s: float | None = None
    first_completion_after_undo_s: float | None = None
    fault_to_end_s: float | None = None  # fault -> last end stamp (or the wait's end, if later)
    throughput: Throughput = Field(default_factory=Throughput)
    # scale-out: the workers added, the task bodies they ran, and the first one's start after they were started
    added_workers: list[str] = Field(default_factory=list)
    tasks_on_added: int | None = None
    first_task_on_added_s: float | None = None
    drain_windows: list[DrainWindow] = Field(default_factory=list)  # the speed-up under each window choice
    # the harness's status reads the platform answered with an error (e.g. a server answering 500
    # while its database is paused); each was asked again until the run's deadline
    refused_reads: int = 0
    refused_read_example: str | None = None
    probe: SubmissionProbe | None = None  # a run submitted while the fault was in force (not for a scale-out)
    collateral: list[CollateralDeath] = Field(default_factory=list)  # other services that died meanwhile

    @model_validator(mode="before")
    @classmethod
    def _measured_before(cls, data):
        """Outcomes written before `measures` existed: 2 if they have a probe (or are a scale-out,
        which sends none), since a complete run of that harness also had no collateral death (any
        death ended the run); 1 otherwise (no probe was sent)."""
        if isinstance(data, dict) and "measures" not in data:
            data = {**data, "measures": 2 if data.get("probe") is not None or data.get("action") == "scale-out" else 1}
        return data


@dataclass
class FaultLog:
    """What the runner did, on the harness clock (epoch ns)."""

    service: str | None
    role: str | None
    undo_after_s: float | None
    started_ns: int = 0  # the runner started: the repetition's origin for at_s
    fired_ns: int | None = None
    undone_ns: int | None = None
    undone_early: bool = False  # the repetition ended before the undo delay had passed
    operations: list[FaultOperation] = field(default_factory=list)
    error: str | None = None
    added: list[str] = field(default_factory=list)  # scale-out: the workers it started
    probe: SubmissionProbe | None = None  # the run submitted while the fault was in force
