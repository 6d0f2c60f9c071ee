"""The interface every stack backend implements: native processes, compose containers, someone
else's deployment, or nothing at all (the in-process null platform).

The driver calls only these methods and never asks which backend it has. Bringing a stack up is
two generators, `prepare()` and `bring_up()`, that yield the name of each step or service as it
finishes; the driver reads the clock between them, so setup times mean the same on every backend.
The fault operations (kill, start, restart, pause, resume) address a service by the name
`services()` gives it, the harness's own workers included.
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterator, Protocol, runtime_checkable

import psutil

from harness.model.errors import BenchError
from harness.stack.service import ServiceSpec

FAULT_OPERATIONS = ("kill", "start", "restart", "pause", "resume")


@dataclass(frozen=True)
class ServiceInfo:
    """A long-running service of the stack: a server, database, queue or worker."""

    name: str
    role: str


@dataclass
class Artifacts:
    """What `prepare()` obtained: the platform's environment, binaries or images."""

    env_bin: Path | None = None  # bin/ of the platform's Python environment (workers, CLIs)
    go_bin: Path | None = None
    versions: dict[str, str] = field(default_factory=dict)
    cached: bool | None = None  # everything already existed
    first_install_s: float | None = None  # how long obtaining them took when it happened
    footprint_bytes: int = 0  # size on disk: environments, binaries, images
    images: dict[str, int] = field(default_factory=dict)  # compose: image -> bytes


@dataclass(frozen=True)
class Shape:
    """The deployment a run measures, recorded in the run so it is judged by what it measured."""

    kind: str  # production | development | external | in-process
    backend: str
    variant: str
    description: str
    default_variant: bool | None = None  # native: whether this is the stack's default variant
    vendor_production: bool | None = None  # native: the variant the vendor documents for production


class FaultUnsupported(BenchError):
    """The backend cannot do this to that service (e.g. a service of an external deployment)."""


class Stack(ABC):
    backend: ClassVar[str]
    log_dir: Path

    # -- bring-up: generators, so the driver takes every time ------------------------------
    @abstractmethod
    def prepare(self) -> Iterator[str]:
        """Obtain the artifacts; yields each step's name ("install", "pull") as it finishes."""

    @abstractmethod
    def bring_up(self) -> Iterator[str]:
        """Start the deployment; yields each service or one-shot step's name once it is ready."""

    @property
    @abstractmethod
    def artifacts(self) -> Artifacts: ...

    @abstractmethod
    def shape(self) -> Shape: ...

    def endpoints(self) -> dict[str, str]:
        return {}

    def settings(self) -> dict[str, dict]:
        """Every setting that differs from the platform's defaults, with why (value, default, why)."""
        return {}

    def secrets(self) -> list[str]:
        """Values generated or captured for this run; redacted from everything written."""
        return []

    def beyond_loopback(self) -> dict[str, str]:
        """Services declared to listen beyond loopback (no setting for their address), with why."""
        return {}

    # -- the running stack ----------------------------------------------------------------
    @abstractmethod
    def start_worker(self, spec: ServiceSpec) -> None:
        """Start one of the harness's own SDK workers on this host, as part of the stack."""

    @abstractmethod
    def services(self) -> list[ServiceInfo]:
        """Long-running services now: the deployment's and the harness's workers."""

    @abstractmethod
    def processes(self) -> dict[str, psutil.Process]:
        """Root process of each service running on this host (for the psutil sampler)."""

    def pids(self) -> set[int]:
        """Every process of the stack on this host (containers' too): load that is not 'other'."""
        return tree_pids(self.processes().values())

    def extra_samplers(self) -> list:
        """Samplers beside the process sampler: container stats, Prometheus scrapes."""
        return []

    @abstractmethod
    def check_alive(self) -> None:
        """Raise ServiceDied naming a service that died (unless stopped on purpose or marked dead)."""

    # -- tear-down ------------------------------------------------------------------------
    @abstractmethod
    def stop(self) -> None:
        """Stop everything this stack started; raise BenchError if something may be left running."""

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@runtime_checkable
class FaultControl(Protocol):
    """The fault operations a stack may implement (every stack that runs its services itself: native
    and compose; an external one refuses for what it does not run). The fault runner reaches them
    through fault_control()."""

    def mark_dead(self, service: str) -> None:
        """A service check_alive reported dead (ServiceDied) is left alone from now on, and `start`
        can bring it back; whatever it left running is stopped."""

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the service and wait for it to exit; the watchdog then leaves it alone."""

    def start(self, service: str) -> None:
        """Start a service that `kill` stopped, and wait until it is ready again."""

    def restart(self, service: str) -> None: ...

    def pause(self, service: str) -> None:
        """Freeze the service (SIGSTOP, or the container's cgroup freezer) without stopping it."""

    def resume(self, service: str) -> None: ...


@runtime_checkable
class LinkControl(Protocol):
    """A stack whose workers can sit behind a network link of their own (the partition fault)."""

    def open_worker_link(self, ports: list[int]) -> str:
        """From now on start workers in a network namespace of their own, joined to this host by a
        link on which `ports` are forwarded to 127.0.0.1 (stack/worker_link.py); returns the host's
        address on the link, which the workers use instead of 127.0.0.1."""

    def cut_link(self) -> None:
        """Partition the workers from every server: the link drops every packet."""

    def heal_link(self) -> None: ...


def fault_control(stack: Stack) -> FaultControl:
    if not isinstance(stack, FaultControl):
        raise FaultUnsupported(f"the {stack.backend} backend has no fault operations")
    return stack


def link_control(stack: Stack) -> LinkControl:
    if not isinstance(stack, LinkControl):
        raise FaultUnsupported(f"the {stack.backend} backend cannot put workers behind a link of their own")
    return stack


def tree_pids(roots) -> set[int]:
    pids: set[int] = set()
    for proc in roots:
        try:
            pids |= {proc.pid, *(p.pid for p in proc.children(recursive=True))}
        except psutil.NoSuchProcess:
            continue
    return pids
