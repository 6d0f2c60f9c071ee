"""What a fault workload needs from a run besides the stack's fault operations: the workers behind a
link of their own (partition), more workers (scale-out), and a run submitted while the fault is in
force, with its fate awaited (fault_probe.py). The session calls these; the fault runner acts."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any, Callable

from harness.faults import runner as faults
from harness.faults.probe import Sender, probe_sender
from harness.model.errors import BenchError, RunInterrupted, ServiceDied
from harness.model.fault_record import CollateralDeath, SubmissionProbe
from harness.model.record import RunRecord, Setting
from harness.model.spec import Workload
from harness.platforms.base import Adapter, Deployment, worker_copy
from harness.stack.base import Stack, fault_control, link_control
from harness.store.results import Redactor

LOOPBACK_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


class FaultHooks:
    def __init__(self, workload: Workload, adapter: Adapter, stack: Stack, record: RunRecord, redact: Redactor):
        self.wl, self.adapter, self.stack, self.record, self.redact = workload, adapter, stack, record, redact
        self.probe_target = None  # the HTTP submission the probes use, asked of the adapter once
        self.deaths: list[CollateralDeath] | None = None  # a list while a fault repetition runs

    def check_alive(self) -> None:
        """A service's death ends the run, except during a measured repetition of a fault workload:
        there a service that dies besides the one the fault stopped (a scheduler that loses its
        database while the database is down) is part of what the fault did. It is noted, left alone
        while the repetition goes on, and started again after it (end_repetition)."""
        try:
            self.stack.check_alive()
        except ServiceDied as death:
            if self.deaths is None:
                raise
            fault_control(self.stack).mark_dead(death.service)
            self.deaths.append(
                CollateralDeath(
                    service=death.service,
                    exit_code=death.exit_code,
                    seen_ns=time.time_ns(),
                    last_log_line=self.redact(death.last_line)[:200],
                )
            )

    def begin_repetition(self, faulted: bool) -> None:
        """From now until end_repetition, deaths are collateral if this repetition has a fault (a
        warmup has none: it is the undisturbed baseline, where a death ends the run as anywhere)."""
        self.deaths = [] if faulted else None

    def end_repetition(self) -> list[CollateralDeath]:
        """The repetition's collateral deaths, each service started again, as a supervisor's restart
        policy would (the vendors' compose files restart Hatchet's engine on failure and Windmill's
        services unless stopped), so the next repetition begins from a whole stack. A service that
        cannot be started again ends the run."""
        deaths, self.deaths = self.deaths or [], None
        for death in deaths:
            t = time.monotonic()
            fault_control(self.stack).start(death.service)
            death.started_again_s = time.monotonic() - t
        return deaths

    def worker_deployment(self, deployment: Deployment) -> Deployment:
        """What the workers are given: for a partition, the endpoints on the far side of their own
        link (stack.open_worker_link), so that cutting it cuts them off from every server."""
        if self.wl.fault is None or self.wl.fault.action != "partition":
            return deployment
        ports = sorted({int(p) for v in deployment.endpoints.values() for p in LOOPBACK_PORT.findall(v)})
        host = link_control(self.stack).open_worker_link(ports)
        self.record.settings["worker.network"] = Setting(
            value=f"a network namespace of their own, linked to the host ({host}); ports {ports} reached through it "
            "(socat forwards those bound to loopback)",
            default="the host's network",
            why="network-partition: the link between the workers and the servers can be cut",
        )
        return dataclasses.replace(
            deployment, endpoints={k: v.replace("127.0.0.1", host) for k, v in deployment.endpoints.items()}
        )

    def more_workers(self, deployment: Deployment) -> faults.MoreWorkers | None:
        """A scale-out's extra workers: copies of the adapter's first worker; None when the platform's
        workers are services of its stack (Airflow's scheduler), not the harness's."""
        if self.wl.fault is None or self.wl.fault.action != "scale-out":
            return None
        base = self.adapter.workers(deployment)
        if not base:
            return None
        return lambda count, tag: [worker_copy(base[0], f"{tag}-{k}") for k in range(1, count + 1)]

    def probe_sender(self, deployment: Deployment) -> Sender | None:
        """How the fault runner submits a run while the fault is in force: the platform's HTTP
        submission, for a run of one task (so it barely adds to the repetition's work). Which
        repetitions and faults send one is the runner's to decide (faults.start_runner)."""
        if self.wl.fault is None:
            return None
        if self.probe_target is None:
            one_task = deployment.workload.model_copy(update={"tasks": 1})
            try:
                self.probe_target = self.adapter.http_target(dataclasses.replace(deployment, workload=one_task))
            except BenchError:  # no HTTP submission path: no probe (the fault table shows –)
                return None
        return probe_sender(self.probe_target)

    def settle(self, probe: SubmissionProbe, await_run: Callable[[Any, int], str]) -> None:
        """An accepted probe's final status, awaited until timeout_s after it was sent."""
        if probe.http_status is None or probe.http_status >= 400:
            return
        try:
            handle = self.adapter.lookup(probe.workflow_id)
            if handle is None:
                probe.final_status = "not found"
                return
            probe.final_status = await_run(handle, probe.sent_ns + int(self.wl.timeout_s * 1e9))
        except TimeoutError:
            probe.final_status = "timeout"
        except RunInterrupted:
            raise
        except Exception as err:
            probe.final_status = self.redact(f"unknown ({type(err).__name__}: {err})")[:200]
