import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.model import spec
from harness.cli.doctor import runnable
from harness.model.paths import STACKS_DIR

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


def leftovers(marker: str) -> list[psutil.Process]:
    """Processes whose command line mentions marker (e.g. a run directory), this one excepted."""
    from harness.tools.chaos import processes_mentioning
    return [p for p in processes_mentioning(marker) if p.pid != os.getpid()]


def stacks_with(root: Path, monkeypatch: pytest.MonkeyPatch, in_process: dict[str, str] | None = None,
                repo_platforms: bool = True) -> Path:
    """Point the registry at a stacks folder root (BENCH_STACKS_DIR, also for `bench` subprocesses)
    holding the repository's platforms (symlinked) and one in-process platform per entry of
    in_process (name -> "module:Class"), each registered by its own platform.yaml alone."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in (STACKS_DIR.iterdir() if repo_platforms else []):
        if (folder / "platform.yaml").is_file():
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    for order, (name, adapter) in enumerate((in_process or {}).items(), start=900):
        (root / name).mkdir()
        (root / name / "platform.yaml").write_text(
            f"order: {order}\nadapter: {adapter}\nkind: harness\nrepresents: null\nnative_missing: null\n")
    monkeypatch.setenv("BENCH_STACKS_DIR", str(root))
    return root
