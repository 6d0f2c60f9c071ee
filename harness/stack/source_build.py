"""Builds of a platform from a source checkout kept outside the repository (Kestra, Windmill).

The vendors publish these servers only as container images, which no Docker engine here can run;
their sources build with the registries this machine reaches. The recipe is ours (generated at
build time); the checkout is the user's (`--source PATH` or the platform's environment variable).
Builds are cached under CACHE_DIR keyed by version and recipe, and every install holds a lock on
its cache entry, so two `bench install` runs sharing the cache never build into one folder at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from harness.model.errors import BenchError
from harness.model.paths import CACHE_DIR

MARKER = ".bench-built.json"
LOCK_WAIT_S = 3 * 3600  # a cold Windmill build takes about 45 min on 2 cores; a waiter outlasts it


@dataclass(frozen=True)
class Built:
    root: Path  # the cache entry: what the build left there (binaries, jars)
    cached: bool
    versions: dict[str, str]
    footprint_bytes: int
    build_s: float | None  # how long the uncached build took when it happened


@contextmanager
def cache_lock(name: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Holds CACHE_DIR/locks/<name>.lock (an OS file lock: released when the holder dies)."""
    locks = CACHE_DIR / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"{name}.lock"))
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise BenchError(f"another install of {name} held its lock for {wait_s:.0f}s; is one stuck?") from None
    try:
        yield
    finally:
        lock.release()


def source_checkout(platform: str, given: Path | None, env_var: str, how_to_get: str) -> Path:
    """The source checkout to build from: --source, else $env_var; one line when there is none."""
    raw = given or (Path(os.environ[env_var]) if os.environ.get(env_var) else None)
    if raw is None:
        hint = f"pass --source PATH or set {env_var} ({how_to_get})"
        raise BenchError(f"{platform} builds from a source checkout: {hint}")
    path = raw.expanduser().resolve()
    if not path.is_dir():
        raise BenchError(f"{platform}: source {path} is not a folder ({how_to_get})")
    return path


def recipe_key(*parts: object) -> str:
    """A short digest of everything that decides a build's output (version, recipe, toolchain)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_build(name: str, key: str, build: Callable[[Path], dict[str, str]]) -> Built:
    """The build at CACHE_DIR/builds/<name>-<key>: the cached one when its marker is there, else
    build(root) (which returns the versions it built) under the lock. The marker is written last: an
    entry without it is a broken earlier attempt, removed first; a failed or interrupted build is
    removed too."""
    root = CACHE_DIR / "builds" / f"{name}-{key}"
    found = _marker(root)
    if found:
        return found
    with cache_lock(f"{name}-{key}"):
        found = _marker(root)  # another install finished it while this one waited
        if found:
            return found
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        started = time.monotonic()
        try:
            versions = build(root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        seconds = time.monotonic() - started
        footprint = tree_size(root)
        (root / MARKER).write_text(json.dumps({"build_s": seconds, "footprint_bytes": footprint, "versions": versions}))
        return Built(root, False, versions, footprint, seconds)


def is_built(name: str, key: str) -> bool:
    return (CACHE_DIR / "builds" / f"{name}-{key}" / MARKER).is_file()


def _marker(root: Path) -> Built | None:
    marker = root / MARKER
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text())
    return Built(root, True, info["versions"], info["footprint_bytes"], info["build_s"])


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total
