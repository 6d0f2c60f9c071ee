"""`make chaos`: runs interrupted at random points, and what each left behind (goal: nothing).

Each run is a real `bench run` in its own process, on a real native platform (by default the one
whose platform.yaml says `chaos_default: true`: temporal-dev, the fastest to start), and one fault
at a random moment: SIGINT or SIGTERM to the harness, SIGKILL to one of the platform's processes,
a server that never becomes ready, a port taken between the check and the bind, or SIGKILL of the
harness itself (then the next `bench` command must find and clean what it left). Afterwards:
processes of the run, its temporary directory, listening ports that were not there before, and
whether its result says how it ended.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.model.paths import REPO_ROOT, STACKS_DIR
from harness.model.registry import chaos_platform

FAULTS = ("sigint", "sigterm", "kill-service", "never-ready", "port-taken", "kill-harness")
NEVER_READY = """order: 990
adapter: harness.platforms.null:NullAdapter
kind: harness
represents: null
native_missing: null
"""


@dataclass
class Outcome:
    fault: str
    after_s: float
    exit_code: int | None
    status: str | None  # the run.json status, None when no result folder was made
    left_processes: int
    left_dirs: int
    left_ports: int
    seconds: float

    @property
    def clean(self) -> bool:
        return not (self.left_processes or self.left_dirs or self.left_ports)


def _listening(pids: set[int]) -> set[int]:
    """Ports still listening in processes the run left (other users of the machine open ports too)."""
    return {
        c.laddr.port for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids
    }


def _stacks_root(work: Path) -> Path:
    """The repository's platforms plus `never-ready`, whose server never answers its readiness check."""
    root = work / "stacks"
    root.mkdir()
    for folder in STACKS_DIR.iterdir():
        if (folder / "platform.yaml").is_file():
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    (root / "never-ready").mkdir()
    (root / "never-ready" / "platform.yaml").write_text(
        NEVER_READY.replace("kind: harness\nrepresents: null\n", "kind: seed\nrepresents: never-ready\n")
    )
    (root / "never-ready" / "native.yaml").write_text(
        "platform: never-ready\nvariants: {default: {default: true}}\nservices:\n"
        '  - name: server\n    command: ["' + sys.executable + '", "-c", "import time; time.sleep(600)"]\n'
        '    ports: [server]\n    ready: {tcp: "{port.server}", timeout_s: 3}\n'
    )
    return root


def one_run(fault: str, platform: str, work: Path, rng: random.Random) -> Outcome:
    # The run's temporary directory goes under work/tmp: other runs on the machine are not ours to count.
    tmp = work / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "BENCH_RESULTS_DIR": str(work / "results"),
        "BENCH_STATE_DIR": str(work / "state"),
        "BENCH_STACKS_DIR": str(work / "stacks"),
        "TMPDIR": str(tmp),
    }
    args = ["run", "never-ready" if fault == "never-ready" else platform, "latency-probe", "--runs", "200"]
    blocker = None
    if fault == "port-taken":
        port = _free_port()
        args += ["--port", f"frontend={port}"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=terminal_signals,
    )
    after = rng.uniform(0.2, 8.0)
    if fault == "port-taken":  # someone binds the pinned port while the harness is starting
        time.sleep(rng.uniform(0.0, 1.5))
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            blocker.bind(("127.0.0.1", port))
            blocker.listen()
        except OSError:
            pass  # the server got it first; the harness must still end cleanly when killed below
    time.sleep(after)
    _inflict(fault, proc, work)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    if fault == "kill-harness":  # the next command cleans up after it
        subprocess.run([sys.executable, "-m", "harness", "list"], env=env, cwd=REPO_ROOT, capture_output=True)
    if blocker is not None:
        blocker.close()
    time.sleep(0.5)
    new_dirs = list(tmp.iterdir())
    left = processes_mentioning(str(tmp))
    return Outcome(
        fault,
        round(after, 2),
        code,
        _status(work / "results"),
        len(left),
        len(new_dirs),
        len(_listening({p.pid for p in left})),
        round(time.monotonic() - started, 1),
    )


def terminal_signals() -> None:
    """preexec_fn: the SIGINT disposition a terminal gives a foreground program. A process started
    with SIGINT ignored (any `cmd &` in a non-interactive shell, some CI runners) passes that on, and
    Python installs no Ctrl-C handler then: the SIGINT meant as a Ctrl-C would be ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _inflict(fault: str, proc: subprocess.Popen, work: Path) -> None:
    if proc.poll() is not None:
        return
    if fault in ("sigint", "never-ready", "port-taken"):
        proc.send_signal(signal.SIGINT)
    elif fault == "sigterm":
        proc.send_signal(signal.SIGTERM)
    elif fault == "kill-harness":
        os.killpg(proc.pid, signal.SIGKILL)
    elif fault == "kill-service":
        entries = _launched(work, proc)
        if entries:
            try:
                os.killpg(random.choice(entries)["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=60)  # the watchdog ends the run; if not, Ctrl-C does
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)


def _launched(work: Path, proc: subprocess.Popen, timeout_s: float = 60) -> list[dict]:
    """The processes the run has launched so far (its ledger), once there is at least one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        for ledger in (work / "state" / "runs").glob("*.json"):
            try:
                entries = json.loads(ledger.read_text())["processes"]
            except (OSError, ValueError, KeyError):
                continue
            if entries:
                return entries
        time.sleep(0.1)
    return []


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions marker (e.g. a run directory)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _status(results: Path) -> str | None:
    runs = sorted(results.glob("*/*/run.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text()).get("status") if runs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def campaign(runs: int, platform: str | None = None, seed: int = 1) -> list[Outcome]:
    """`runs` interrupted runs of `platform`; by default the repository's chaos_default platform (the runs
    see the repository's platforms only, see _stacks_root)."""
    platform = platform or chaos_platform(STACKS_DIR)
    rng = random.Random(seed)
    outcomes = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            work = Path(tmp)
            work.chmod(0o711)  # PostgreSQL's unprivileged user must reach its data under work/tmp
            _stacks_root(work)
            outcome = one_run(FAULTS[i % len(FAULTS)] if i < len(FAULTS) else rng.choice(FAULTS), platform, work, rng)
            print(
                f"{i + 1:3}/{runs} {outcome.fault:13} after {outcome.after_s:4.1f}s: exit {outcome.exit_code}, "
                f"result {outcome.status}, left {outcome.left_processes} processes, {outcome.left_dirs} dirs, "
                f"{outcome.left_ports} ports ({outcome.seconds:.0f}s)",
                flush=True,
            )
            outcomes.append(outcome)
    return outcomes


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    outcomes = campaign(runs, *(sys.argv[2:3] or []))
    dirty = [o for o in outcomes if not o.clean]
    unmarked = [o for o in outcomes if o.status not in ("failed", "interrupted", None)]
    print(
        f"{len(outcomes)} interrupted runs: {len(dirty)} left something behind "
        f"({sum(o.left_processes for o in outcomes)} processes, {sum(o.left_dirs for o in outcomes)} temporary "
        f"directories, {sum(o.left_ports for o in outcomes)} listening ports); "
        f"{len(unmarked)} results not marked failed or interrupted (goal: 0 and 0)"
    )
    sys.exit(1 if dirty or unmarked else 0)


if __name__ == "__main__":
    main()
