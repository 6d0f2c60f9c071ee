"""What a stack backend needs to know to run one long-running service."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class ReadyCheck:
    """How to tell a service is ready. Exactly one of the probes is set."""

    http: str | None = None  # GET returns 2xx
    tcp: int | None = None  # a loopback port accepts connections
    command: tuple[str, ...] | None = None  # exits 0
    file: str | None = None  # exists (the service writes it when it is ready)
    timeout_s: float = 120.0

    def describe(self) -> str:
        if self.http:
            return f"GET {self.http}"
        if self.tcp:
            return f"TCP 127.0.0.1:{self.tcp}"
        if self.command:
            return " ".join(self.command)
        return f"file {self.file}"


@dataclass
class ServiceSpec:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: ReadyCheck | None = None
    cwd: Path | None = None
    user: str | None = None  # run as this system user (PostgreSQL refuses root)
    ports: dict[str, int] = field(default_factory=dict)  # ports this service binds, by role
    prepare: Callable[[], None] | None = None  # one-shot step before launch (e.g. initdb), part of start-up
    role: str = "server"  # server | database | worker: how the report groups it
    oneshot: bool = False  # runs to completion (migrations, schema, tokens)
    capture: str | None = None  # oneshot: name under which its last stdout line is kept
    retry_s: float = 0.0  # oneshot: keep retrying a failing command this long
    after: tuple[str, ...] | None = None  # start once these steps are done (None: every earlier one)
