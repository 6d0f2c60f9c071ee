"""`bench up` / `bench down`: a native stack left running in the background, for poking at by hand
or measuring with the external backend. Its pids and endpoints live in a mode-0600 state file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from harness import platforms
from harness.model.errors import BenchError
from harness.model.paths import STATE_DIR
from harness.stack.factory import StackRequest, open_stack
from harness.stack.processes import graceful_signal, stop_tree
from harness.stack.service import ServiceSpec
from harness.store.results import new_run_id


@dataclass
class BackgroundStack:
    run_dir: str
    pids: list[int]  # root of each service, in start order
    roles: list[str]
    endpoints: dict[str, str]
    log_dir: str


def state_file(platform: str) -> Path:
    return STATE_DIR / f"{platform}.json"


def up(
    platform: str, variant: str | None, ports: dict[str, int], progress: Callable[..., None] = lambda *a, **k: None
) -> BackgroundStack:
    info = platforms.get(platform)
    if not info.has_native:
        raise BenchError(
            f"`bench up` starts native stacks and {platform} has none; "
            f"`bench run {platform} … --backend compose` runs its compose stack"
        )
    state = state_file(platform)
    if state.exists():
        raise BenchError(f"{platform} is already up (state in {state}); run `bench down {platform}` first")
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-up-{platform}-"))
    stamps = run_dir / "stamps"
    stamps.mkdir()
    stack = open_stack(info, StackRequest(run_dir, new_run_id("up"), stamps, "native", variant, ports, attached=False))
    try:
        for step in stack.prepare():
            progress("phase", name=step, detail=platform)
        for name in stack.bring_up():
            progress("phase", name="start", detail=f"{name} ready")
    except BaseException:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    running = stack.group.services
    started = BackgroundStack(
        str(run_dir), [r.pid for r in running], [r.spec.role for r in running], stack.endpoints(), str(stack.log_dir)
    )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # endpoints may carry per-run credentials
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(started), out)
    return started


def down(platform: str) -> None:
    platforms.get(platform)
    state = state_file(platform)
    if not state.exists():
        raise BenchError(f"{platform} is not up (no {state})")
    try:
        started = BackgroundStack(**json.loads(state.read_text()))
    except (ValueError, TypeError) as err:
        raise BenchError(f"{state}: not a state file of `bench up` ({err}); stop its processes by hand") from None
    for pid, role in reversed(list(zip(started.pids, started.roles))):
        stop_tree(pid, graceful_signal_for(role))
    shutil.rmtree(started.run_dir, ignore_errors=True)
    state.unlink()


def graceful_signal_for(role: str) -> int:
    return graceful_signal(ServiceSpec(name="", command=[], role=role))
