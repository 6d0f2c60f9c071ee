"""The native backend: every service a local process from registry packages (stacks/<p>/native.yaml).

HostStack holds what every backend shares: the harness's own workers run as local processes on
each of them. NativeStack adds the platform's servers to the same process group; InProcessStack
is the null platform's (nothing to start).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import psutil

from harness.model.errors import BenchError
from harness.stack import definition, install, listeners
from harness.stack.base import (
    Artifacts,
    FaultControl,
    FaultUnsupported,
    LinkControl,
    ServiceInfo,
    Shape,
    Stack,
)
from harness.stack.postgres import install_dir
from harness.stack.processes import READY_PROBE_EVERY_S, ProcessGroup, Running
from harness.stack.service import ServiceSpec
from harness.stack.worker_link import WorkerLink


class HostStack(Stack, FaultControl, LinkControl):
    """The part of a stack that runs on this host: a process group for workers (and servers)."""

    backend = "native"

    def __init__(self, run_dir: Path, attached: bool = True, ledger=None):
        self.group = ProcessGroup(run_dir, attached, ledger)
        self.log_dir = self.group.log_dir
        self._artifacts = Artifacts()
        self.link: WorkerLink | None = None

    @property
    def artifacts(self) -> Artifacts:
        return self._artifacts

    def start_worker(self, spec: ServiceSpec) -> None:
        spec = replace(spec, env={**spec.env, **self._worker_env()})
        self.group.start(self.link.wrap(spec) if self.link is not None else spec)

    def _worker_env(self) -> dict[str, str]:
        """What the stack's variant adds to the harness's workers' environment."""
        return {}

    def open_worker_link(self, ports: list[int]) -> str:
        self.link = WorkerLink.open(str(os.getpid()))
        if self.group.ledger is not None:
            self.group.ledger.set_link(self.link.netns, self.link.host_if)
        # a port some service already listens on for every interface (Hatchet's API) is reachable on
        # the link's address as it is: a forwarder could not bind there, and the cut cuts it all the same
        for spec in self.link.forwarders(sorted(set(ports) - listeners.wildcard_ports())):
            self.group.start(spec)
        self.link.await_listening(ports)
        return self.link.host_ip

    def cut_link(self) -> None:
        if self.link is None:
            raise FaultUnsupported("no worker link to cut: the workers were not started behind one")
        self.link.cut()

    def heal_link(self) -> None:
        if self.link is None:
            raise FaultUnsupported("no worker link to restore")
        self.link.heal()

    def services(self) -> list[ServiceInfo]:
        return [ServiceInfo(r.spec.name, r.spec.role) for r in self.group.services]

    def processes(self) -> dict[str, psutil.Process]:
        return self.group.processes()

    def check_alive(self) -> None:
        self.group.check_alive()

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        self.group.kill(service, sig)

    def mark_dead(self, service: str) -> None:
        self.group.mark_dead(service)

    def start(self, service: str) -> None:
        self.group.start_again(service)

    def restart(self, service: str) -> None:
        self.group.restart(service)

    def pause(self, service: str) -> None:
        self.group.pause(service)

    def resume(self, service: str) -> None:
        self.group.resume(service)

    def stop(self) -> None:
        self.stop_host()

    def stop_host(self) -> None:
        """The processes on this host, then the worker link they used (every backend's tear-down)."""
        try:
            self.group.stop()
        finally:
            if self.link is not None:
                self.link.close()


class InProcessStack(HostStack):
    """The null platform: the adapter runs tasks in the driver's own process; nothing to start."""

    def __init__(self, run_dir: Path, ledger=None):
        super().__init__(run_dir, ledger=ledger)
        self._artifacts = Artifacts(env_bin=Path(sys.executable).parent)

    def prepare(self) -> Iterator[str]:
        return iter(())

    def bring_up(self) -> Iterator[str]:
        return iter(())

    def shape(self) -> Shape:
        return Shape("in-process", "native", "in-process", "in-process: no server")


class NativeStack(HostStack):
    """A stack definition's services as local processes, started in order, each awaited before the next
    one starts unless the next names with `after` the only steps it needs."""

    def __init__(
        self,
        defn: definition.StackDef,
        variant: str | None,
        run_dir: Path,
        run_id: str,
        pinned_ports: dict[str, int] | None = None,
        attached: bool = True,
        ledger=None,
    ):
        super().__init__(run_dir, attached, ledger)
        variant = variant or defn.default_variant()
        if variant not in defn.variants:
            raise BenchError(f"{defn.platform} has no variant {variant!r}; known: {', '.join(defn.variants)}")
        self.defn, self.variant, self.run_dir, self.run_id = defn, variant, run_dir, run_id
        self.pinned_ports = dict(pinned_ports or {})
        self.rendered: definition.RenderedStack | None = None

    def prepare(self) -> Iterator[str]:
        missing = [n for n in self.defn.variants[self.variant].system if not Path(n.path).exists()]
        if missing:
            raise BenchError(
                f"{self.defn.platform} variant {self.variant} needs {', '.join(n.path for n in missing)}: "
                f"apt-get install {' '.join(sorted({n.package for n in missing}))}"
            )
        got = install.platform(self.defn)
        footprint = got.footprint_bytes
        if self._uses_postgres():
            footprint += install.tree_size(install_dir())
        self._artifacts = Artifacts(
            env_bin=got.bin_dir,
            go_bin=got.go_bin,
            versions=dict(got.versions),
            cached=got.cached,
            first_install_s=got.first_install_s,
            footprint_bytes=footprint,
        )
        self.rendered = definition.render(
            self.defn,
            self.variant,
            definition.RenderContext(
                self.run_id, self.run_dir, got.bin_dir, self.pinned_ports, go_bin=got.go_bin, build_dir=got.build_dir
            ),
        )
        yield "install"

    def bring_up(self) -> Iterator[str]:
        """Take the definition's steps in order: a service is done when ready, a one-shot when it exits 0.
        A step waits for every earlier one, or only for those its `after` names; services launched side
        by side are yielded as each becomes ready, so each one's time is its own."""
        if self.rendered is None:
            raise BenchError("bring_up() before prepare()")
        self.rendered.write_files()
        starting: list[Running] = []
        for spec in self.rendered.steps():
            needs = None if spec.after is None else set(spec.after)
            yield from self._await(starting, needs)
            if spec.oneshot:
                out = self.group.run_oneshot(spec)
                if spec.capture:
                    self.rendered.ctx.capture(spec.capture, _last_nonblank(out, spec))
                yield spec.name
            else:
                starting.append(self.group.launch(spec))
        yield from self._await(starting, None)

    def _await(self, starting: list[Running], needs: set[str] | None) -> Iterator[str]:
        """Yield starting services as they become ready, until none of `needs` (None: any) is starting."""
        while any(needs is None or r.spec.name in needs for r in starting):
            ready = self.group.ready_now(starting)
            for running in ready:
                starting.remove(running)
                yield running.spec.name
            if not ready:
                time.sleep(READY_PROBE_EVERY_S)

    def endpoints(self) -> dict[str, str]:
        return self.rendered.endpoints() if self.rendered else {}

    def _worker_env(self) -> dict[str, str]:
        return self.rendered.worker_env() if self.rendered else {}

    def settings(self) -> dict[str, dict]:
        return self.rendered.settings if self.rendered else {}

    def secrets(self) -> list[str]:
        return self.rendered.secrets() if self.rendered else []

    def beyond_loopback(self) -> dict[str, str]:
        return {s.name: s.beyond_loopback for s in self.defn.services if s.beyond_loopback}

    def shape(self) -> Shape:
        return Shape(
            self.defn.deployment,
            "native",
            self.variant,
            self.defn.variants[self.variant].description or self.defn.description,
            default_variant=self.variant == self.defn.default_variant(),
            vendor_production=self.defn.variants[self.variant].vendor_production,
        )

    def _uses_postgres(self) -> bool:
        return any(
            s.builtin == "postgres" for s in self.defn.services if s.variants is None or self.variant in s.variants
        )


def _last_nonblank(out: str, spec: ServiceSpec) -> str:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    if not lines:
        raise BenchError(f"{spec.name} printed nothing to capture as {spec.capture}")
    return lines[-1]
