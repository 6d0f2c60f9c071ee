"""The fault runner: a thread beside one measured repetition that watches the task bodies' stamps
(its own StampReader) and, at the trigger, does the workload's fault through the stack's fault
operations (kill, start, restart, pause, resume), then undoes it after the set delay. A scale-out
starts more of the harness's workers instead, and stops them when the repetition ends; a partition
cuts the link the workers reach the servers by (stack.cut_link) and restores it.

It only acts and notes the harness clock around each operation; what the platform did about it is
read afterwards from the stamps and the engine's records (harness/analysis/faults.py).
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from harness.faults.probe import PROBE_AFTER_S, Sender, probe_id
from harness.model.errors import BenchError
from harness.model.fault_record import FaultLog, FaultOperation, SubmissionProbe
from harness.model.spec import FaultSpec, FaultTarget, FaultTrigger, Workload
from harness.stack.base import ServiceInfo, Stack, fault_control, link_control
from harness.stack.service import ServiceSpec
from harness.store.stamps import StampReader

# A scale-out's extra workers: (how many, a tag for their names) -> their service specs.
MoreWorkers = Callable[[int, str], list[ServiceSpec]]

POLL_S = 0.01  # how often the stamps are read while waiting for the trigger
NOT_TARGETS = ("oneshot",)

# Every fault operation runs on this one thread, which lives as long as the harness. A service is
# launched with a parent-death signal (processes.py), and Linux sends it when the *thread* that
# launched it ends: a replacement started by a runner's own thread was SIGTERMed the moment that
# repetition's runner finished.
_OPERATIONS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fault-operations")


def pick_target(target: FaultTarget, services: list[ServiceInfo], turn: int) -> ServiceInfo:
    """The service the fault hits in measured repetition `turn`; BenchError naming what exists."""
    candidates = [s for s in services if s.role not in NOT_TARGETS]
    known = ", ".join(f"{s.name} ({s.role})" for s in candidates) or "none"
    if target.service is not None:
        hit = [s for s in candidates if s.name == target.service]
        if not hit:
            raise BenchError(f"fault target: no service {target.service!r} in this stack; services: {known}")
        return hit[0]
    hit = sorted((s for s in candidates if s.role == target.role), key=lambda s: s.name)
    if not hit:
        raise BenchError(f"fault target: no service with role {target.role!r} in this stack; services: {known}")
    return hit[turn % len(hit)] if target.in_turn else hit[0]


def trigger_ns(trigger: FaultTrigger, stamps: list[dict], origin_ns: int, first_workflow: str) -> int | None:
    """When the fault is due (epoch ns), from the stamps seen so far; None while that is not known.

    Counted from the stamps' own times, not from when the runner read them, so a late read only
    makes the fault late (it then fires at once), never early."""
    delay_ns = int(trigger.delay_s * 1e9)
    if trigger.at_s is not None:
        return origin_ns + int(trigger.at_s * 1e9)
    if trigger.after_tasks is not None:
        ends = sorted(s["body_end_ns"] for s in stamps)
        return ends[trigger.after_tasks - 1] + delay_ns if len(ends) >= trigger.after_tasks else None
    previous = [
        s["body_end_ns"] for s in stamps if s["workflow_id"] == first_workflow and s["index"] == trigger.mid_task - 1
    ]
    return min(previous) + delay_ns if previous else None


class FaultRunner:
    """One fault in one repetition: start() before the submissions, stop() once they are final."""

    def __init__(
        self,
        spec: FaultSpec,
        stack: Stack,
        stamps_dir: Path,
        phase: str,
        first_workflow: str,
        turn: int,
        clock: Callable[[], int] = time.time_ns,
        more_workers: MoreWorkers | None = None,
        send_probe: Sender | None = None,
    ):
        self.spec, self.stack, self.clock, self.turn, self.more_workers = spec, stack, clock, turn, more_workers
        self.send_probe = send_probe if spec.action != "scale-out" else None  # a scale-out disrupts nothing
        self.phase_tag, self.first_workflow = f"-{phase}-", first_workflow
        target = pick_target(spec.target, stack.services(), turn)
        undo = spec.undo_after_s[turn % len(spec.undo_after_s)] if spec.undo_after_s else None
        self.log = FaultLog(service=target.name, role=target.role, undo_after_s=undo)
        self.reader = StampReader(stamps_dir)
        self.reader.read_new()  # what earlier repetitions left is not this repetition's
        self.stamps: list[dict] = []
        self._stop = threading.Event()
        self._abandon = False
        self._thread = threading.Thread(target=self._run, name=f"fault-{spec.scenario}", daemon=True)
        self._prober = threading.Thread(target=self._probe, name="fault-probe", daemon=True)

    def start(self) -> None:
        self.log.started_ns = self.clock()
        self._thread.start()

    def stop(self) -> FaultLog:
        """The repetition is over: undo a fault still in force (so the next repetition starts whole)."""
        self._stop.set()
        self._thread.join()
        if self._prober.ident is not None:
            self._prober.join()  # bounded: the sender's answer timeout (and the client's retries)
        if self.log.added:
            self._stop_added()
        return self.log

    def abandon(self) -> None:
        """Interrupted: end the thread without undoing; the stack's tear-down stops what is left."""
        self._abandon = True
        self._stop.set()
        self._thread.join(timeout=30)
        if self._prober.ident is not None:
            self._prober.join(timeout=5)

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            due = self._await_trigger()
            if due is None or self._stop.wait(max(0.0, (due - self.clock()) / 1e9)):
                return  # the repetition ended before the fault was due: nothing fired
            self._fire()
            if self.log.undo_after_s is not None:
                self.log.undone_early = self._stop.wait(self.log.undo_after_s)
                if not self._abandon:
                    self._undo()
        except BenchError as err:
            self.log.error = str(err)
            self._undo_after_error()
        except Exception as err:  # the run goes on and records it; a thread must not die silently
            self.log.error = f"{type(err).__name__}: {err}"
            self._undo_after_error()

    def _undo_after_error(self) -> None:
        """A fault that failed half-way (a pause not in force on every process in time) is undone at
        once where it can be, so the rest of the run is not measured against a half-frozen stack."""
        if self.log.fired_ns is None or self.log.undone_ns is not None or self.spec.action == "restart":
            return
        try:
            self._undo()
        except Exception:
            pass  # already recorded as an operation with its error

    def _await_trigger(self) -> int | None:
        while not self._stop.is_set():
            self.stamps += [s for s in self.reader.read_new() if self.phase_tag in s["workflow_id"]]
            due = trigger_ns(self.spec.trigger, self.stamps, self.log.started_ns, self.first_workflow)
            if due is not None:
                return due
            self._stop.wait(POLL_S)
        return None

    def _fire(self) -> None:
        service, action = self.log.service, self.spec.action
        assert service is not None
        if self.send_probe is not None:  # started first: a restart's call returns only once it is over
            self._prober.start()
        try:
            if action == "kill":
                sig = signal.Signals[self.spec.signal]
                self._operation(f"kill({sig.name})", lambda: fault_control(self.stack).kill(service, sig))
            elif action == "restart":
                self._operation("restart", lambda: fault_control(self.stack).restart(service))
            elif action == "scale-out":
                self._scale_out()
            elif action == "partition":
                self._operation("cut-link", lambda: link_control(self.stack).cut_link())
            else:
                self._operation("pause", lambda: fault_control(self.stack).pause(service))
        finally:  # fired even if the operation then failed: the fault may be partly in force
            if self.log.operations:
                self.log.fired_ns = self.log.operations[0].start_ns
        if action in ("restart", "scale-out"):  # in force once the call returns: the services are ready
            self.log.undone_ns = self.log.operations[0].end_ns

    def _probe(self) -> None:
        """One run submitted PROBE_AFTER_S after the fault fired, unless the repetition was interrupted."""
        time.sleep(PROBE_AFTER_S)
        if self._abandon or self.send_probe is None:
            return
        self.log.probe = probe = SubmissionProbe(workflow_id=probe_id(self.first_workflow), sent_ns=self.clock())
        try:
            self.send_probe(probe)
        except Exception as err:  # recorded, never the end of the repetition
            probe.error = f"{type(err).__name__}: {err}"[:200]

    def _scale_out(self) -> None:
        if self.more_workers is None:
            raise BenchError(
                "scale-out: this platform's workers are services of its stack, not the harness's: "
                "there is no worker to add"
            )
        specs = self.more_workers(self.spec.add_workers or 1, f"scale{self.turn + 1}")
        self.log.added = [s.name for s in specs]
        self._operation(f"scale-out(+{len(specs)})", lambda: [self.stack.start_worker(s) for s in specs])

    def _stop_added(self) -> None:
        """The repetition is over: the workers a scale-out added go, so the next one starts as this one did."""
        try:
            self._operation(
                "stop-added", lambda: [fault_control(self.stack).kill(n, signal.SIGTERM) for n in self.log.added]
            )
        except BenchError as err:
            self.log.error = self.log.error or str(err)

    def _undo(self) -> None:
        service = self.log.service
        assert service is not None
        if self.spec.action == "kill":
            self._operation("start", lambda: fault_control(self.stack).start(service))
        elif self.spec.action == "partition":
            self._operation("heal-link", lambda: link_control(self.stack).heal_link())
        else:
            self._operation("resume", lambda: fault_control(self.stack).resume(service))
        self.log.undone_ns = self.log.operations[-1].end_ns

    def _operation(self, name: str, call: Callable[[], None]) -> None:
        start = self.clock()
        try:
            _OPERATIONS.submit(call).result()
        except BenchError as err:
            self.log.operations.append(
                FaultOperation(
                    operation=name,
                    service=self.log.service or "",
                    start_ns=start,
                    end_ns=self.clock(),
                    error=str(err)[:300],
                )
            )
            raise
        self.log.operations.append(
            FaultOperation(operation=name, service=self.log.service or "", start_ns=start, end_ns=self.clock())
        )


def start_runner(
    workload: Workload,
    stack: Stack,
    stamps_dir: Path,
    phase: str,
    rep: int,
    first_workflow: str,
    more_workers: MoreWorkers | None = None,
    send_probe: Sender | None = None,
) -> FaultRunner | None:
    """The runner for a measured repetition of a fault workload, started; None otherwise (no fault, or
    warmup: the warmup is the undisturbed baseline)."""
    if workload.fault is None or rep < workload.warmup:
        return None
    runner = FaultRunner(
        workload.fault,
        stack,
        stamps_dir,
        phase,
        first_workflow,
        turn=rep - workload.warmup,
        more_workers=more_workers,
        send_probe=send_probe,
    )
    runner.start()
    return runner
