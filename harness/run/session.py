"""One run's lifecycle: install, start, deploy, the workload's shape (an Executor), shut down.

The session owns the stack, the adapter, the samplers and the record; an executor (harness/run/
idle.py, repetitions.py, fault.py, sweep.py) drives the measured part through the session's public
phase, probe and record methods.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Protocol

import psutil

from harness.analysis import faults as fault_analysis
from harness.analysis import runs as analysis
from harness.faults.hooks import FaultHooks
from harness.model.errors import BenchError
from harness.model.record import Phase, SamplerStats, ServiceRef, Setting
from harness.model.spec import Workload
from harness.platforms.base import Adapter, Deployment, deployable
from harness.run.guards import raise_if_interrupted, watchdog
from harness.run.sampler import ResourceSampler
from harness.stack import listeners
from harness.stack.base import Stack
from harness.store.machine import RepetitionProbe
from harness.store.results import Redactor, RunRecorder
from harness.store.stamps import StampReader


class Executor(Protocol):
    """Runs the measured part of one workload shape on a deployed session."""

    def run(self, session: RunSession, deployment: Deployment) -> None: ...


class RunSession:
    def __init__(
        self,
        workload: Workload,
        adapter: Adapter,
        stack: Stack,
        recorder: RunRecorder,
        redact: Redactor,
        run_dir: Path,
        stamps_dir: Path,
        sample_hz: float,
        progress: Callable[..., None],
    ):
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
        self.hooks = FaultHooks(workload, adapter, stack, self.record, redact)

    # -- phases ----------------------------------------------------------------------------
    def execute(self, executor: Executor) -> None:
        """Install, start, deploy, then the workload's own shape (harness/run/shapes.py picks it)."""
        self._prepare()
        self._start_samplers()
        self._bring_up()
        with watchdog(self.hooks.check_alive):
            executor.run(self, self._deploy())

    def _prepare(self) -> None:
        setup = self.record.setup
        self.progress("phase", name="install", detail=self.record.platform)
        steps = self.stack.prepare()
        while True:
            self.phase_start("prepare")
            t = time.monotonic()
            name = next(steps, None)
            if name is None:
                self.record.phases.pop()
                break
            self.record.phases[-1].name = name
            self.phase_end()
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
        self.phase_start("start")
        t0 = time.monotonic()
        try:
            for name in self.stack.bring_up():
                setup.services_ready_s[name] = time.monotonic() - t0  # seconds since the first launch
                raise_if_interrupted()
                self.progress("phase", name="start", detail=f"{name} ready")
        finally:
            self.redact.add(self.stack.secrets())
        if setup.services_ready_s:  # an external or in-process stack has nothing to bring up
            setup.start_to_ready_s = time.monotonic() - t0
        self.t_ready_ns = time.time_ns()
        # The stack's last: a variant that changes a setting the workers hold (worker_env) records it
        # over the adapter's value.
        self.record.settings = {
            k: Setting.model_validate(v)
            for k, v in {**self.adapter.settings_for(self.wl), **self.stack.settings()}.items()
        }
        self.record.endpoints = self.stack.endpoints()
        self.recorder.flush()

    def _deploy(self) -> Deployment:
        """Connect, start the harness's workers and register the workload; `deploy_s` is all of it."""
        self.progress("phase", name="deploy", detail="workers")
        env_bin = self.stack.artifacts.env_bin
        deployment = Deployment(
            self.record.run_id, deployable(self.wl), self.run_dir, self.stamps_dir, env_bin, self.record.endpoints
        )
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
        self.phase_end()
        return deployment

    def _audit_listeners(self) -> None:
        """Every stack binds loopback only; what a platform cannot bind there is declared and recorded,
        anything else ends the run before anything is measured."""
        declared = self.stack.beyond_loopback()
        harness_own = {s.name for s in self.stack.services() if s.role == "harness"}  # a worker link's socat
        found = listeners.beyond_loopback({n: p for n, p in self.stack.processes().items() if n not in harness_own})
        self.record.beyond_loopback = [f"{x} ({declared[x.service]})" for x in found if x.service in declared]
        undeclared = [str(x) for x in found if x.service not in declared]
        if undeclared:
            raise BenchError(
                f"listening beyond loopback: {', '.join(undeclared)} (every stack binds 127.0.0.1; "
                "a service with no setting for its address is declared in its stack file)"
            )

    def add_repetition(self, done: analysis.Assembled) -> None:
        """A finished repetition: its record, its task and workflow rows written as they are."""
        self.task_rows += done.task_rows
        self.workflow_rows += done.workflow_rows
        self.record.repetitions.append(done.repetition)
        if self.record.setup.ready_to_first_task_s is None and done.task_rows:
            first_end = min(r["body_end_ns"] for r in done.task_rows)
            self.record.setup.ready_to_first_task_s = (first_end - self.t_ready_ns) / 1e9
        self.recorder.write_table("tasks", self.task_rows)
        self.recorder.write_table("workflows", self.workflow_rows)
        self.recorder.flush()

    def probe(self) -> RepetitionProbe:
        """The machine-state probe of one measured window, begun."""
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
            lambda: {**{s.name: s.role for s in self.stack.services()}, "harness": "harness"},
            hz=self.sample_hz,
        )
        self.samplers = [self.process_sampler, *self.stack.extra_samplers()]
        for sampler in self.samplers:
            sampler.start()

    def resource_rows(self) -> list[dict]:
        """The resource samples taken since the last call."""
        return [row for x in self.samplers for row in x.take_rows()]

    def phase_start(self, name: str) -> None:
        """A named phase of the record begins: the samplers tag what they take with it."""
        raise_if_interrupted()  # every phase starts at a safe point
        for sampler in self.samplers:
            sampler.set_phase(name)
        self.record.phases.append(Phase(name=name, start_ns=time.time_ns()))
        self.recorder.flush()

    def phase_end(self) -> None:
        """The current phase ends; its resource samples are written."""
        self.record.phases[-1].end_ns = time.time_ns()
        for sampler in self.samplers:
            sampler.set_phase("between")
        if self.samplers:
            self.recorder.write_table("resources", self.resource_rows())
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
        rows = self.resource_rows()
        if self.samplers:
            self.recorder.write_table("resources", rows)
        s = self.process_sampler
        if s is not None:
            self.record.sampler = SamplerStats(
                hz=s.hz, ticks=s.ticks, late_ticks=s.late_ticks, own_cpu_s=s.own_cpu_s, wall_s=s.wall_s
            )
        if self.record.phases and self.record.phases[-1].end_ns is None:
            self.record.phases[-1].end_ns = time.time_ns()
        try:
            self.record.summary = analysis.summarize_tables(
                self.record, analysis.frame(self.task_rows), analysis.frame(self.workflow_rows), analysis.frame(rows)
            )
        except Exception as err:  # a summary bug must not lose the raw data
            self.record.summary_error = str(err)[:300]
