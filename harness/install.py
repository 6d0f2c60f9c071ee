"""Installs a platform's artifacts into a cache keyed by their exact versions.

Python-distributed platforms get their own virtual environment, built by uv with the versions
of this project's lockfile, so the server and workers run as a user would install them and
the footprint on disk is the platform's own. A second run finds the environment and is cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import BenchError
from .paths import CACHE_DIR, REPO_ROOT

MARKER = ".bench-installed.json"


@dataclass
class Installed:
    env_dir: Path
    cached: bool
    versions: dict[str, str]
    footprint_bytes: int
    first_install_s: float | None  # how long the uncached install took when it happened

    @property
    def bin_dir(self) -> Path:
        return self.env_dir / "bin"


def uv_bin() -> str:
    try:
        from uv import find_uv_bin
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise BenchError("uv is not installed; run `make install`") from None
        return found


def pins(packages: list[str]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise BenchError(f"{name} is not in the harness environment; run `make install`") from None
    return out


def lock_constraints() -> str:
    """Every version in uv.lock, as constraints, so transitive dependencies match the lock too."""
    done = subprocess.run([uv_bin(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-dev",
                           "--no-header", "--no-annotate"], cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"uv export failed: {_last(done.stderr)}")
    return done.stdout


def python_env(platform: str, packages: list[str]) -> Installed:
    versions = pins(packages)
    constraints = lock_constraints()
    key = hashlib.sha256(json.dumps([versions, constraints, sys.version]).encode()).hexdigest()[:12]
    env_dir = CACHE_DIR / "envs" / f"{platform}-{key}"
    marker = env_dir / MARKER
    if marker.is_file():
        info = json.loads(marker.read_text())
        return Installed(env_dir, True, versions, info["footprint_bytes"], info["install_s"])

    # The marker is written last: a directory without it is a broken earlier attempt.
    shutil.rmtree(env_dir, ignore_errors=True)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        _run([uv_bin(), "venv", "--quiet", "--python", sys.executable, str(env_dir)])
        constraints_file = env_dir / "constraints.txt"
        constraints_file.write_text(constraints)
        _run([uv_bin(), "pip", "install", "--quiet", "--python", str(env_dir / "bin" / "python"),
              "-c", str(constraints_file), *(f"{n}=={v}" for n, v in versions.items())])
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    footprint = tree_size(env_dir)
    marker.write_text(json.dumps({"install_s": seconds, "footprint_bytes": footprint, "versions": versions}))
    return Installed(env_dir, False, versions, footprint, seconds)


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])} failed: {_last(done.stderr or done.stdout)}")


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
