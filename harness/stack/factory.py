"""The one place a run's stack is made: the backend chosen (backends.resolve), the platform's stack
file loaded, the variant checked. The driver gets a Stack and never asks which kind it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.model.errors import BenchError
from harness.model.registry import PlatformInfo
from harness.stack import backends, compose, definition
from harness.stack.base import Stack
from harness.stack.compose_stack import ComposeStack
from harness.stack.external import ExternalStack, load_config
from harness.stack.native import InProcessStack, NativeStack


@dataclass
class StackRequest:
    run_dir: Path
    run_id: str
    stamps_dir: Path
    backend: str = "auto"  # auto | native | compose | external
    variant: str | None = None  # native stacks only
    pinned_ports: dict[str, int] = field(default_factory=dict)
    external_config: Path | None = None
    attached: bool = True  # services die with the harness (False for `bench up`)
    ledger: object = None  # harness.run.ledger.RunLedger, if the run keeps one


def open_stack(info: PlatformInfo, req: StackRequest) -> Stack:
    backend = backends.resolve(req.backend, info)
    if backend != "native" and req.variant:
        raise BenchError(f"variants belong to native stacks; the {backend} backend takes none")
    if info.in_process:
        if req.variant not in (None, "in-process"):
            raise BenchError(f"{info.name} runs in-process and has no variants")
        return InProcessStack(req.run_dir, req.ledger)
    if backend == "native":
        return NativeStack(
            definition.load(info.name),
            req.variant,
            req.run_dir,
            req.run_id,
            req.pinned_ports,
            attached=req.attached,
            ledger=req.ledger,
        )
    if backend == "compose":
        return ComposeStack(
            compose.load(info.name), req.run_dir, req.run_id, req.stamps_dir, req.pinned_ports, ledger=req.ledger
        )
    config = load_config(req.external_config, endpoint_names(info), info.name)
    return ExternalStack(config, worker_python(info), info.name, req.run_dir, req.ledger)


def endpoint_names(info: PlatformInfo) -> list[str]:
    """What the adapter connects to, named as in the platform's native stack (else its compose file)."""
    if info.has_native:
        return list(definition.load(info.name).endpoints)
    return list(compose.load(info.name).bench.endpoints) if info.has_compose else []


def worker_python(info: PlatformInfo) -> list[str]:
    """The distributions of the harness's host-side SDK workers."""
    if info.has_compose and compose.load(info.name).bench.worker_python:
        return compose.load(info.name).bench.worker_python
    return definition.load(info.name).install.python if info.has_native else []
