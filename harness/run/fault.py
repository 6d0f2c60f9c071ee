"""The fault shape: chain or fan-out repetitions with the workload's fault done in each measured one
(harness/faults/runner.py acts; harness/analysis/faults.py reads what the platform did about it)."""

from __future__ import annotations

import time

from harness.analysis import faults as fault_analysis
from harness.analysis import runs as analysis
from harness.faults import runner as faults
from harness.model.engine import EngineWorkflow
from harness.model.fault_record import CollateralDeath, FaultOutcome
from harness.platforms.base import Deployment
from harness.run.guards import raise_if_interrupted
from harness.run.repetitions import Repetitions

REREAD_AFTER_S = 1.0  # a status read the platform refused is asked again after this


class FaultRepetitions(Repetitions):
    runner: faults.FaultRunner | None = None

    def begin(self, rep: int, phase: str, deployment: Deployment) -> None:
        s = self.session
        self.refused_reads: list[str] = []
        self.collateral: list[CollateralDeath] = []
        self.runner = faults.start_runner(
            s.wl,
            s.stack,
            s.stamps_dir,
            phase,
            rep,
            f"{deployment.names}-{phase}-0",
            s.hooks.more_workers(deployment),
            s.hooks.probe_sender(deployment),
        )
        s.hooks.begin_repetition(self.runner is not None)

    def abandon(self) -> None:
        self.session.hooks.begin_repetition(False)  # a death ends the run again (while it is torn down)
        if self.runner is not None:
            self.runner.abandon()

    def finish(self) -> None:
        self.log = self.runner.stop() if self.runner is not None else None
        if self.log is not None and self.log.probe is not None:
            self.session.hooks.settle(self.log.probe, self.await_final)

    def after(self) -> None:
        self.collateral = self.session.hooks.end_repetition()

    def outcome(
        self, submissions: list[analysis.Submission], stamps: list[dict], engine: dict[str, EngineWorkflow]
    ) -> FaultOutcome | None:
        s, wl = self.session, self.session.wl
        if self.log is None or wl.fault is None:
            return None
        return fault_analysis.outcome(
            fault_analysis.FaultInputs(
                wl.fault,
                self.log,
                wl,
                submissions,
                stamps,
                engine,
                fault_analysis.warmup_transition_max_ns(s.task_rows),
                s.record.setup.deploy_s,
                s.record.platform,
                s.record.settings,
                self.refused_reads,
                self.collateral,
            )
        )

    def refused(self, err: Exception, left_s: float) -> bool:
        """An error answering the harness's status read (Prefect's server answers 500 while its
        database is paused) is noted and the read repeated until the run's deadline: what the engine
        does with the run is the measurement, not whether it could answer the observer then."""
        if left_s <= 0:
            return False
        self.refused_reads.append(self.session.redact(f"{type(err).__name__}: {err}")[:200])
        raise_if_interrupted()
        time.sleep(min(REREAD_AFTER_S, max(left_s, 0.0)))
        return True
