"""The idle shape: the deployed stack left alone for `duration_s`, sampled, nothing submitted."""

from __future__ import annotations

import time

from harness.model.record import Repetition
from harness.platforms.base import Deployment
from harness.run.guards import raise_if_interrupted
from harness.run.session import RunSession

CHECK_EVERY_S = 1.0  # how often the stack's services are checked alive while idle


class Idle:
    def run(self, session: RunSession, deployment: Deployment) -> None:
        duration_s = session.wl.duration_s
        session.phase_start("idle")
        probe = session.probe()
        end = time.monotonic() + duration_s
        session.progress("phase", name="idle", total=duration_s)
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(CHECK_EVERY_S, left))
            raise_if_interrupted()
            session.stack.check_alive()
            session.progress("advance", amount=min(CHECK_EVERY_S, left))
        session.phase_end()
        session.record.repetitions.append(
            Repetition(repetition=0, phase="idle", warmup=False, status="ok", machine_state=probe.end())
        )
        session.recorder.flush()
