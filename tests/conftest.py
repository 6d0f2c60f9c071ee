import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil
import pytest

from harness.cli.doctor import runnable
from harness.model import spec
from harness.model.paths import STACKS_DIR, STATE_DIR

REPO = Path(__file__).resolve().parent.parent
BENCH = [sys.executable, "-m", "harness"]


def small(name: str, **overrides) -> spec.Workload:
    """A standard workload, shrunk so a test runs in seconds."""
    return spec.Workload.model_validate({**spec.load(name).model_dump(), **overrides})


def bench(*args: str, results: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_RESULTS_DIR": str(results), "BENCH_STATE_DIR": str(results / ".state")}
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, **kw)


def require_runnable(platform: str) -> None:
    if not runnable(platform):
        pytest.skip(f"{platform} cannot run on this machine (see `bench doctor`)")


@dataclass(frozen=True)
class Started:
    """A process a test's run started: its pid and its start time (psutil create_time), so that a pid
    the system has since given to another process is not taken for it."""

    name: str
    pid: int
    started: float


SAME_START_S = 0.1  # create_time has the clock tick's resolution (10 ms): ten ticks apart is another process


def started_now(name: str, pid: int) -> Started | None:
    """The process with this pid as it is now (None: it is gone already)."""
    try:
        return Started(name, pid, psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None


def _as_started(p) -> Started | None:
    if isinstance(p, Started):
        return p
    if isinstance(p, psutil.Process):  # psutil took its create time when the object was made
        try:
            return Started("", p.pid, p.create_time())
        except psutil.Error:
            return None
    if isinstance(p, dict):  # an entry of a ledger file
        return Started(p.get("name", ""), int(p["pid"]), float(p["started"]))
    return Started(p.name, p.pid, p.started)  # a harness.run.ledger.Entry


def leftovers(recorded: Iterable) -> list[psutil.Process]:
    """Those of the processes a test's run recorded that are still running: the same pid with the same
    start time (a recycled pid is someone else's), zombies excepted. `recorded` holds what the run
    wrote down (ledger entries, as objects or as the ledger file's dicts, or Started) or psutil.Process
    objects taken while it ran. Nothing is looked up by name: a process the test did not start never
    counts, whatever its command line says."""
    alive: dict[int, psutil.Process] = {}
    for entry in filter(None, map(_as_started, recorded)):
        try:
            proc = psutil.Process(entry.pid)
            if abs(proc.create_time() - entry.started) < SAME_START_S and proc.status() != psutil.STATUS_ZOMBIE:
                alive[entry.pid] = proc
        except psutil.NoSuchProcess:
            continue
    return list(alive.values())


@pytest.fixture
def run_processes(monkeypatch) -> list[Started]:
    """Every process the in-process runs of a test start, as they record it: each entry their ledger
    is given (RunLedger.launched: services, one-shot steps, added workers, link forwarders) and, just
    before the stack is stopped, every process of each service's tree (Stack.processes(), children
    included). Taken as it is written: a run that ends cleanly removes its ledger file."""
    from harness.run.ledger import RunLedger
    from harness.run.session import RunSession
    from harness.stack.base import tree_pids

    found: list[Started] = []
    launched, shutdown = RunLedger.launched, RunSession.shutdown

    def record_launch(self, name, pid):
        before = len(self.processes)
        launched(self, name, pid)
        found.extend(Started(e.name, e.pid, e.started) for e in self.processes[before:])

    def record_trees(self):
        try:
            roots = self.stack.processes()
        except Exception:  # noqa: BLE001 - the stack's own tear-down reports what is wrong with it
            roots = {}
        for name, root in roots.items():
            found.extend(filter(None, (started_now(name, pid) for pid in tree_pids([root]))))
        shutdown(self)

    monkeypatch.setattr(RunLedger, "launched", record_launch)
    monkeypatch.setattr(RunSession, "shutdown", record_trees)
    return found


class LedgerWatch:
    """The processes `bench` subprocesses record in their ledgers (state_dir/runs/*.json), for runs
    whose result folder lies under `results`: read every 0.1 s from entering until leaving, and once
    more then, since a run that ends cleanly removes its ledger file."""

    def __init__(self, results: Path, state_dir: Path | None = None):
        self.results = Path(results).resolve()
        # where a `bench` started with this environment keeps them
        self.folder = Path(state_dir or os.environ.get("BENCH_STATE_DIR") or STATE_DIR) / "runs"
        self.processes: list[Started] = []
        self._seen: set[tuple[int, float]] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def read(self) -> list[Started]:
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                doc = json.loads(path.read_text())
                if not doc.get("result_dir") or not Path(doc["result_dir"]).resolve().is_relative_to(self.results):
                    continue
                entries = [Started(e["name"], int(e["pid"]), float(e["started"])) for e in doc.get("processes", [])]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # removed or replaced while read: the next round sees it
            for e in entries:
                if (e.pid, e.started) not in self._seen:
                    self._seen.add((e.pid, e.started))
                    self.processes.append(e)
        return self.processes

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            self.read()

    def __enter__(self) -> Self:
        self.read()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.read()


@pytest.fixture
def load_processes(monkeypatch) -> list[Started]:
    """Every Locust process (master, workers) the load steps run in this process start, as started."""
    from harness.load import generator

    found: list[Started] = []
    locust = generator._locust

    def record(out_dir, log_name, args):
        popen = locust(out_dir, log_name, args)
        found.extend(filter(None, [started_now(log_name, popen.pid)]))  # our child: its pid is held until reaped
        return popen

    monkeypatch.setattr(generator, "_locust", record)
    return found


def stacks_with(
    root: Path, monkeypatch: pytest.MonkeyPatch, in_process: dict[str, str] | None = None, repo_platforms: bool = True
) -> Path:
    """Point the registry at a stacks folder root (BENCH_STACKS_DIR, also for `bench` subprocesses)
    holding the repository's platforms (symlinked) and one in-process platform per entry of
    in_process (name -> "module:Class"), each registered by its own platform.yaml alone."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in STACKS_DIR.iterdir() if repo_platforms else []:
        if (folder / "platform.yaml").is_file():
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    for order, (name, adapter) in enumerate((in_process or {}).items(), start=900):
        (root / name).mkdir()
        (root / name / "platform.yaml").write_text(
            f"order: {order}\nadapter: {adapter}\nkind: harness\nrepresents: null\nnative_missing: null\n"
        )
    monkeypatch.setenv("BENCH_STACKS_DIR", str(root))
    return root
