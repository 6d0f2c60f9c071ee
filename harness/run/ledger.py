"""What a run has started, on disk, so a harness killed outright (SIGKILL, an OOM kill, a lost
machine session) cannot leave services behind unnoticed.

Each run keeps a ledger file in STATE_DIR/runs/: its own pid and start time, its temporary
directory, its result folder and every process it launched (pid and start time, so a reused pid is
never mistaken for ours). A clean end removes the file. Every `bench` command first looks for
ledgers whose harness is gone, stops what they list, removes their temporary directory, marks their
result interrupted, and says so in one line each.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from harness.model.errors import BenchError
from harness.model.paths import STATE_DIR
from harness.model.record import load_record
from harness.stack import compose
from harness.stack.processes import stop_tree
from harness.stack.worker_link import remove
from harness.store.results import atomic_write

LEDGER_DIR_NAME = "runs"
KILLED = "the harness was killed before it could clean up; found and cleaned by a later bench command"


@dataclass
class Entry:
    name: str
    pid: int
    started: float  # psutil create_time: tells our process from a later one with the same pid


@dataclass
class RunLedger:
    path: Path
    run_dir: str
    result_dir: str | None = None
    harness_pid: int = field(default_factory=os.getpid)
    harness_started: float = field(default_factory=lambda: psutil.Process().create_time())
    processes: list[Entry] = field(default_factory=list)
    compose_project: str | None = None
    link: tuple[str, str] | None = None  # a worker link's network namespace and host interface

    @classmethod
    def open(cls, run_id: str, run_dir: Path, root: Path | None = None) -> "RunLedger":
        folder = (root or STATE_DIR) / LEDGER_DIR_NAME
        folder.mkdir(parents=True, exist_ok=True)
        ledger = cls(folder / f"{run_id}.json", str(run_dir))
        ledger.save()
        return ledger

    def launched(self, name: str, pid: int) -> None:
        try:
            started = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return
        self.processes.append(Entry(name, pid, started))
        self.save()

    def set_compose_project(self, project: str) -> None:
        self.compose_project = project
        self.save()

    def set_link(self, netns: str, host_if: str) -> None:
        self.link = (netns, host_if)
        self.save()

    def set_result_dir(self, path: Path) -> None:
        self.result_dir = str(path)
        self.save()

    def save(self) -> None:
        doc = {k: v for k, v in asdict(self).items() if k != "path"}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out)
        os.replace(tmp, self.path)

    def close(self) -> None:
        """The run cleaned up after itself: nothing to find later."""
        self.path.unlink(missing_ok=True)


def reap_orphans(root: Path | None = None) -> list[str]:
    """Clean up after every run whose harness is gone; one line per run saying what was done."""
    folder = (root or STATE_DIR) / LEDGER_DIR_NAME
    lines = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
            ledger = RunLedger(
                path,
                doc["run_dir"],
                doc.get("result_dir"),
                doc["harness_pid"],
                doc["harness_started"],
                [Entry(**e) for e in doc.get("processes", [])],
                doc.get("compose_project"),
                tuple(doc["link"]) if doc.get("link") else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: a ledger cut short; nothing we can act on
            continue
        if _alive(ledger.harness_pid, ledger.harness_started):
            continue  # a run in progress (another terminal, a test)
        lines.append(_clean(ledger))
        ledger.close()
    return lines


def _clean(ledger: RunLedger) -> str:
    stopped = 0
    for entry in reversed(ledger.processes):
        if _alive(entry.pid, entry.started):
            stop_tree(entry.pid, grace_s=5)
            stopped += 1
    shutil.rmtree(ledger.run_dir, ignore_errors=True)
    downed = _compose_down(ledger.compose_project) if ledger.compose_project else ""
    if ledger.link is not None:
        remove(*ledger.link)
        downed += f", removed worker link {ledger.link[1]} and namespace {ledger.link[0]}"
    marked = _mark_interrupted(Path(ledger.result_dir)) if ledger.result_dir else False
    run = Path(ledger.result_dir).name if ledger.result_dir else ledger.path.stem
    return (
        f"run {run} was left by a harness that was killed (pid {ledger.harness_pid}): stopped {stopped} "
        f"process(es), removed {ledger.run_dir}{downed}" + (", marked its result interrupted" if marked else "")
    )


def _compose_down(project: str) -> str:
    """Containers of a killed compose run: `down -v` by project name (compose finds them by label)."""
    if compose.docker_unavailable() is not None:
        return f", could not remove compose project {project} (no Docker engine answers)"
    try:
        from python_on_whales import DockerClient  # lazy: only where a compose stack runs

        DockerClient(compose_project_name=project).compose.down(volumes=True, remove_orphans=True, timeout=10)
    except Exception as err:  # python_on_whales.DockerException
        return f", compose down -v of {project} failed: {compose.first_line(err)}"
    return f", removed compose project {project}"


def _mark_interrupted(result_dir: Path) -> bool:
    try:
        record = load_record(result_dir / "run.json")
    except BenchError:
        return False
    if record.status != "running":
        return False
    record.status, record.error = "interrupted", KILLED
    atomic_write(result_dir / "run.json", json.dumps(record.model_dump(mode="json"), indent=2).encode())
    return True


def _alive(pid: int, started: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
