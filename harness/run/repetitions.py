"""The chain and fan-out shapes: warmup repetitions, then measured ones, each `runs` workflow runs
submitted closed-loop (each once the previous one is final) or all at once (`submit: all-at-once`).

Off the measured window each repetition reads the engine's records, then the stamps, and
analysis.assemble judges it. FaultRepetitions (harness/run/fault.py) adds a fault to the measured
repetitions at the points marked below.
"""

from __future__ import annotations

import time
from typing import Any

from harness.analysis import runs as analysis
from harness.model.engine import EngineWorkflow, WorkflowRequest
from harness.model.errors import RunInterrupted
from harness.model.fault_record import FaultOutcome
from harness.platforms.base import Deployment
from harness.run.guards import raise_if_interrupted
from harness.run.session import RunSession


class Repetitions:
    def run(self, session: RunSession, deployment: Deployment) -> None:
        self.session = session
        wl = session.wl
        for rep in range(wl.warmup + wl.repetitions):
            self.repetition(rep, warmup=rep < wl.warmup, deployment=deployment)

    # -- where a fault workload adds its fault (FaultRepetitions) ------------------------------
    def begin(self, rep: int, phase: str, deployment: Deployment) -> None:
        """The measured window has begun."""

    def abandon(self) -> None:
        """The repetition ended by an exception."""

    def finish(self) -> None:
        """Every run is final; the measured window is still open."""

    def after(self) -> None:
        """The measured window has closed."""

    def outcome(
        self, submissions: list[analysis.Submission], stamps: list[dict], engine: dict[str, EngineWorkflow]
    ) -> FaultOutcome | None:
        """What a fault did, off the measured window; None without one."""
        return None

    def refused(self, err: Exception, left_s: float) -> bool:
        """A status read failed with err: True to read again (until the run's deadline)."""
        return False

    # -- one repetition --------------------------------------------------------------------------
    def repetition(self, rep: int, warmup: bool, deployment: Deployment) -> None:
        s, wl = self.session, self.session.wl
        phase = f"warmup-{rep + 1}" if warmup else f"rep-{rep + 1 - wl.warmup}"
        s.phase_start(phase)
        s.progress("phase", name=phase, total=wl.runs)
        probe = s.probe()
        self.begin(rep, phase, deployment)
        try:
            submissions, failure = self.submit_and_wait(phase, deployment)
        except BaseException:
            self.abandon()
            raise
        self.finish()
        machine_state = probe.end()
        s.phase_end()
        self.after()
        # Outside the measured window: engine records, then stamps, so a body that ended while the
        # records settled (a task a platform ran again late, after a fault) is seen.
        engine = {sub.request.workflow_id: self.engine_records(sub) for sub in submissions}
        stamps = s.stamps.read_new()
        done = analysis.assemble(rep, phase, warmup, wl, submissions, stamps, engine, failure)
        done.repetition.machine_state = machine_state
        done.repetition.fault = self.outcome(submissions, stamps, engine)
        s.add_repetition(done)

    def submit_and_wait(self, phase: str, deployment: Deployment) -> tuple[list[analysis.Submission], str | None]:
        """Closed loop (the default): each workflow run submitted once the previous one is final.
        `submit: all-at-once`: every run submitted first, then each awaited until timeout_s after its
        own submit, so the runs queue in the engine (a backlog of runs, as a scale-out needs)."""
        s, wl = self.session, self.session.wl
        requests = [
            WorkflowRequest(f"{deployment.names}-{phase}-{i}", wl.shape, wl.tasks, wl.task.op, wl.task.n)
            for i in range(wl.runs)
        ]
        queued = [self.submit(req) for req in requests] if wl.submit == "all-at-once" else None
        submissions, first_failure = [], None
        for k, req in enumerate(requests):
            submit_ns, handle = queued[k] if queued else self.submit(req)
            left_s = wl.timeout_s - (time.time_ns() - submit_ns) / 1e9 if queued else wl.timeout_s
            failure = None
            try:
                status = self.await_final(handle, time.time_ns() + int(max(left_s, 0.001) * 1e9))
            except TimeoutError:
                status, failure = "timeout", f"{req.workflow_id} not complete within {wl.timeout_s:.0f}s"
            submissions.append(analysis.Submission(req, handle, submit_ns, time.time_ns(), status))
            raise_if_interrupted()
            s.hooks.check_alive()
            s.progress("advance", amount=1)
            first_failure = first_failure or failure
            if failure and not queued:  # closed loop: nothing else was submitted
                break
        return submissions, first_failure

    def await_final(self, handle: Any, deadline_ns: int) -> str:
        """The run's final status; a read the platform refused is repeated where refused() says so."""
        while True:
            left_s = (deadline_ns - time.time_ns()) / 1e9
            try:
                return self.session.adapter.wait(handle, max(left_s, 0.001))
            except (TimeoutError, RunInterrupted, AttributeError, TypeError, NameError):
                raise  # the wait's own end, or a bug of the harness's: never the platform's refusal
            except Exception as err:
                if not self.refused(err, left_s):
                    raise

    def submit(self, req: WorkflowRequest) -> tuple[int, Any]:
        submit_ns = time.time_ns()
        handle = self.session.adapter.submit(req)
        raise_if_interrupted()
        return submit_ns, handle

    def engine_records(self, sub: analysis.Submission) -> EngineWorkflow:
        try:
            return self.session.adapter.records(sub.handle, sub.request)
        except Exception as err:  # an engine that cannot report is a failed repetition, not a crash
            return EngineWorkflow(status="unknown", records_error=str(err)[:200])
