"""One run's phases, in order: prepare, bring up, deploy, warmup and measured repetitions (or idle),
shut down. Every setup time is read here, from the clock, between the stack's and the adapter's
steps; nothing below this module times anything."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import psutil

from . import analysis, fault_analysis, faults
from .errors import BenchError, RunInterrupted
from .guards import raise_if_interrupted, watchdog
from .machine import RepetitionProbe
from .platforms.base import Adapter, Deployment, EngineWorkflow, WorkflowRequest, deployable
from .record import Phase, Repetition, SamplerStats, ServiceRef, Setting
from .results import Redactor, RunRecorder
from .sampler import ResourceSampler
from .session_faults import FaultHooks
from .spec import Workload
from .stack import listeners
from .stack.base import Stack
from .stamps import StampReader

IDLE_CHECK_EVERY_S = 1.0
REREAD_AFTER_S = 1.0        # a fault workload's status read the platform refused is asked again after this


class RunSession:
    def __init__(self, workload: Workload, adapter: Adapter, stack: Stack, recorder: RunRecorder,
                 redact: Redactor, run_dir: Path, stamps_dir: Path, sample_hz: float,
                 progress: Callable[..., None]):
        self.wl, self.adapter, self.stack, self.recorder = workload, adapter, stack, recorder
        self.record = recorder.record
        self.redact, self.run_dir, self.stamps_dir = redact, run_dir, stamps_dir
        self.sample_hz, self.progress = sample_hz, progress
        self.stamps = StampReader(stamps_dir)
        self.samplers: list = []
        self.process_sampler: ResourceSampler | None = None
        self.stop_error: str | None = None
        self.task_rows: list = []
        self.workflow_rows: list = []
        self.t_ready_ns: int | None = None
        self.refused_reads: list[str] = []     # this repetition's (see _await)
        self.hooks = FaultHooks(workload, adapter, stack, self.record, redact)

    # -- phases ----------------------------------------------------------------------------
    def execute(self) -> None:
        self._prepare()
        self._start_samplers()
        self._bring_up()
        with watchdog(self.hooks.check_alive):
            deployment = self._deploy()
            if self.wl.shape == "idle":
                self._idle(self.wl.duration_s)
            elif self.wl.shape == "sweep":
                from .load import sweep   # open-loop steps; the generator runs in processes of its own
                sweep.run_sweep(self, deployment)
            else:
                for rep in range(self.wl.warmup + self.wl.repetitions):
                    self._repetition(rep, warmup=rep < self.wl.warmup, deployment=deployment)

    def _prepare(self) -> None:
        setup = self.record.setup
        self.progress("phase", name="install", detail=self.record.platform)
        steps = self.stack.prepare()
        while True:
            self._phase_start("prepare")
            t = time.monotonic()
            name = next(steps, None)
            if name is None:
                self.record.phases.pop()
                break
            self.record.phases[-1].name = name
            self._phase_end()
            if name == "install":
                setup.install_s = time.monotonic() - t
            elif name == "pull":
                setup.pull_s = time.monotonic() - t
        got = self.stack.artifacts
        setup.install_cached, setup.first_install_s = got.cached, got.first_install_s
        setup.footprint_bytes, setup.images = got.footprint_bytes, dict(got.images)
        self.record.versions.update(got.versions)
        self.recorder.flush()

    def _bring_up(self) -> None:
        setup = self.record.setup
        self._phase_start("start")
        t0 = time.monotonic()
        try:
            for name in self.stack.bring_up():
                setup.services_ready_s[name] = time.monotonic() - t0   # seconds since the first launch
                raise_if_interrupted()
                self.progress("phase", name="start", detail=f"{name} ready")
        finally:
            self.redact.add(self.stack.secrets())
        if setup.services_ready_s:   # an external or in-process stack has nothing to bring up
            setup.start_to_ready_s = time.monotonic() - t0
        self.t_ready_ns = time.time_ns()
        # The stack's last: a variant that changes a setting the workers hold (worker_env) records it
        # over the adapter's value.
        self.record.settings = {k: Setting.model_validate(v)
                                for k, v in {**self.adapter.settings_for(self.wl), **self.stack.settings()}.items()}
        self.record.endpoints = self.stack.endpoints()
        self.recorder.flush()

    def _deploy(self) -> Deployment:
        """Connect, start the harness's workers and register the workload; `deploy_s` is all of it."""
        self.progress("phase", name="deploy", detail="workers")
        env_bin = self.stack.artifacts.env_bin
        deployment = Deployment(self.record.run_id, deployable(self.wl), self.run_dir, self.stamps_dir, env_bin,
                                self.record.endpoints)
        self.adapter.connect(deployment)
        t = time.monotonic()
        for worker in self.adapter.workers(self.hooks.worker_deployment(deployment)):
            self.stack.start_worker(worker)
        self.adapter.deploy(deployment)
        setup = self.record.setup
        setup.deploy_s = time.monotonic() - t
        services = self.stack.services()
        setup.long_running_services = len(services)
        self.record.deployment.services = [ServiceRef(name=s.name, role=s.role) for s in services]
        self.record.versions.update(self.adapter.versions())
        self._audit_listeners()
        self._phase_end()
        return deployment

    def _audit_listeners(self) -> None:
        """Every stack binds loopback only; what a platform cannot bind there is declared and recorded,
        anything else ends the run before anything is measured."""
        declared = self.stack.beyond_loopback()
        harness_own = {s.name for s in self.stack.services() if s.role == "harness"}   # a worker link's socat
        found = listeners.beyond_loopback({n: p for n, p in self.stack.processes().items() if n not in harness_own})
        self.record.beyond_loopback = [f"{x} ({declared[x.service]})" for x in found if x.service in declared]
        undeclared = [str(x) for x in found if x.service not in declared]
        if undeclared:
            raise BenchError(f"listening beyond loopback: {', '.join(undeclared)} (every stack binds 127.0.0.1; "
                             "a service with no setting for its address is declared in its stack file)")

    def _idle(self, duration_s: float) -> None:
        self._phase_start("idle")
        probe = self._probe()
        end = time.monotonic() + duration_s
        self.progress("phase", name="idle", total=duration_s)
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(IDLE_CHECK_EVERY_S, left))
            raise_if_interrupted()
            self.stack.check_alive()
            self.progress("advance", amount=min(IDLE_CHECK_EVERY_S, left))
        self._phase_end()
        self.record.repetitions.append(Repetition(repetition=0, phase="idle", warmup=False, status="ok",
                                                  machine_state=probe.end()))
        self.recorder.flush()

    def _repetition(self, rep: int, warmup: bool, deployment: Deployment) -> None:
        wl = self.wl
        phase = f"warmup-{rep + 1}" if warmup else f"rep-{rep + 1 - wl.warmup}"
        self._phase_start(phase)
        self.progress("phase", name=phase, total=wl.runs)
        probe = self._probe()
        fault = faults.start_runner(wl, self.stack, self.stamps_dir, phase, rep, f"{deployment.names}-{phase}-0",
                                    self.hooks.more_workers(deployment), self.hooks.probe_sender(deployment))
        self.hooks.begin_repetition(fault is not None)
        try:
            submissions, failure = self._submit_and_wait(phase, deployment)
        except BaseException:
            self.hooks.begin_repetition(False)   # a death ends the run again (while it is torn down)
            if fault is not None:
                fault.abandon()
            raise
        fault_log = fault.stop() if fault is not None else None
        if fault_log is not None and fault_log.probe is not None:
            self.hooks.settle(fault_log.probe, self._await)
        machine_state = probe.end()
        self._phase_end()
        collateral = self.hooks.end_repetition()

        # Outside the measured window: engine records, then stamps, so a body that ended while the
        # records settled (a task a platform ran again late, after a fault) is seen.
        engine = {s.request.workflow_id: self._engine_records(s) for s in submissions}
        stamps = self.stamps.read_new()
        done = analysis.assemble(rep, phase, warmup, wl, submissions, stamps, engine, failure)
        done.repetition.machine_state = machine_state
        if fault_log is not None and wl.fault is not None:
            done.repetition.fault = fault_analysis.outcome(fault_analysis.FaultInputs(
                wl.fault, fault_log, wl, submissions, stamps, engine,
                fault_analysis.warmup_transition_max_ns(self.task_rows), self.record.setup.deploy_s,
                self.record.platform, self.record.settings, self.refused_reads, collateral))
        self.task_rows += done.task_rows
        self.workflow_rows += done.workflow_rows
        self.record.repetitions.append(done.repetition)
        if self.record.setup.ready_to_first_task_s is None and done.task_rows:
            first_end = min(r["body_end_ns"] for r in done.task_rows)
            self.record.setup.ready_to_first_task_s = (first_end - self.t_ready_ns) / 1e9
        self.recorder.write_table("tasks", self.task_rows)
        self.recorder.write_table("workflows", self.workflow_rows)
        self.recorder.flush()

    def _submit_and_wait(self, phase: str, deployment: Deployment) -> tuple[list[analysis.Submission], str | None]:
        """Closed loop (the default): each workflow run submitted once the previous one is final.
        `submit: all-at-once`: every run submitted first, then each awaited until timeout_s after its
        own submit, so the runs queue in the engine (a backlog of runs, as a scale-out needs)."""
        wl = self.wl
        self.refused_reads = []
        requests = [WorkflowRequest(f"{deployment.names}-{phase}-{i}", wl.shape, wl.tasks, wl.task.op, wl.task.n)
                    for i in range(wl.runs)]
        queued = [self._submit(req) for req in requests] if wl.submit == "all-at-once" else None
        submissions, first_failure = [], None
        for k, req in enumerate(requests):
            submit_ns, handle = queued[k] if queued else self._submit(req)
            left_s = wl.timeout_s - (time.time_ns() - submit_ns) / 1e9 if queued else wl.timeout_s
            failure = None
            try:
                status = self._await(handle, time.time_ns() + int(max(left_s, 0.001) * 1e9))
            except TimeoutError:
                status, failure = "timeout", f"{req.workflow_id} not complete within {wl.timeout_s:.0f}s"
            submissions.append(analysis.Submission(req, handle, submit_ns, time.time_ns(), status))
            raise_if_interrupted()
            self.hooks.check_alive()
            self.progress("advance", amount=1)
            first_failure = first_failure or failure
            if failure and not queued:   # closed loop: nothing else was submitted
                break
        return submissions, first_failure

    def _await(self, handle: Any, deadline_ns: int) -> str:
        """The run's final status. In a fault workload an error answering the harness's status read
        (Prefect's server answers 500 while its database is paused) is noted and the read repeated
        until the run's deadline: what the engine does with the run is the measurement, not whether
        it could answer the observer at that moment."""
        while True:
            left_s = (deadline_ns - time.time_ns()) / 1e9
            try:
                return self.adapter.wait(handle, max(left_s, 0.001))
            except (TimeoutError, RunInterrupted, AttributeError, TypeError, NameError):
                raise   # the wait's own end, or a bug of the harness's: never the platform's refusal
            except Exception as err:
                if self.wl.fault is None or left_s <= 0:
                    raise
                self.refused_reads.append(self.redact(f"{type(err).__name__}: {err}")[:200])
                raise_if_interrupted()
                time.sleep(min(REREAD_AFTER_S, max(left_s, 0.0)))

    def _submit(self, req: WorkflowRequest) -> tuple[int, Any]:
        submit_ns = time.time_ns()
        handle = self.adapter.submit(req)
        raise_if_interrupted()
        return submit_ns, handle

    def _engine_records(self, sub: analysis.Submission) -> EngineWorkflow:
        try:
            return self.adapter.records(sub.handle, sub.request)
        except Exception as err:  # an engine that cannot report is a failed repetition, not a crash
            return EngineWorkflow(status="unknown", records_error=str(err)[:200])

    def _probe(self) -> RepetitionProbe:
        probe = RepetitionProbe(self._stack_pids)
        probe.begin()
        return probe

    def _stack_pids(self) -> set[int]:
        """The harness and every process of the stack: not 'other' load on the machine."""
        return {os.getpid(), *self.stack.pids()}

    # -- samplers and phases -------------------------------------------------------------------
    def _start_samplers(self) -> None:
        me = psutil.Process()
        self.process_sampler = ResourceSampler(
            lambda: {**self.stack.processes(), "harness": me},
            lambda: {**{s.name: s.role for s in self.stack.services()}, "harness": "harness"}, hz=self.sample_hz)
        self.samplers = [self.process_sampler, *self.stack.extra_samplers()]
        for sampler in self.samplers:
            sampler.start()

    def _resource_rows(self) -> list[dict]:
        return [row for x in self.samplers for row in x.take_rows()]

    def _phase_start(self, name: str) -> None:
        raise_if_interrupted()   # every phase starts at a safe point
        for sampler in self.samplers:
            sampler.set_phase(name)
        self.record.phases.append(Phase(name=name, start_ns=time.time_ns()))
        self.recorder.flush()

    def _phase_end(self) -> None:
        self.record.phases[-1].end_ns = time.time_ns()
        for sampler in self.samplers:
            sampler.set_phase("between")
        if self.samplers:
            self.recorder.write_table("resources", self._resource_rows())
        self.recorder.flush()

    def all_repetitions_ok(self) -> bool:
        reps = self.record.repetitions
        return any(not r.warmup for r in reps) and all(fault_analysis.repetition_done(r) for r in reps)

    def shutdown(self) -> None:
        try:
            self.adapter.close()
        except Exception:
            pass
        for sampler in self.samplers:
            sampler.set_phase("stop")
        try:
            self.stack.stop()
        except Exception as err:  # e.g. `compose down -v` failed: say so, keep the data
            self.stop_error = str(err)
            self.record.stop_error = self.redact(self.stop_error)
        for sampler in self.samplers:
            sampler.stop()
        self._finish_record()
        self.recorder.copy_logs(self.stack.log_dir)

    def _finish_record(self) -> None:
        rows = self._resource_rows()
        if self.samplers:
            self.recorder.write_table("resources", rows)
        s = self.process_sampler
        if s is not None:
            self.record.sampler = SamplerStats(hz=s.hz, ticks=s.ticks, late_ticks=s.late_ticks,
                                               own_cpu_s=s.own_cpu_s, wall_s=s.wall_s)
        if self.record.phases and self.record.phases[-1].end_ns is None:
            self.record.phases[-1].end_ns = time.time_ns()
        try:
            self.record.summary = analysis.summarize_tables(
                self.record, analysis.frame(self.task_rows), analysis.frame(self.workflow_rows), analysis.frame(rows))
        except Exception as err:  # a summary bug must not lose the raw data
            self.record.summary_error = str(err)[:300]
