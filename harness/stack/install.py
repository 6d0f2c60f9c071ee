"""Installs a platform's artifacts into a cache keyed by their exact versions.

- Python distributions: the platform's own virtual environment, built by uv with the versions of
  this project's lockfile, so servers and workers run as a user would install them and the
  footprint on disk is the platform's own. A platform whose pins clash with this project's lock
  brings its own lock file (requirements with hashes, in its stack folder) and is installed from
  that alone.
- Go modules: binaries built with the ordinary `go` client from the module at a pinned version.
A second run finds the artifacts and is reported as cached.
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

from harness.model.errors import BenchError
from harness.model.paths import CACHE_DIR, REPO_ROOT
from harness.stack import source_build
from harness.stack.builders import recipe_module
from harness.stack.source_build import cache_lock, tree_size

MARKER = ".bench-installed.json"


@dataclass
class Installed:
    env_dir: Path
    cached: bool
    versions: dict[str, str]
    footprint_bytes: int
    first_install_s: float | None  # how long the uncached install took when it happened
    go_bin: Path | None = None
    build_dir: Path | None = None  # a source build's cache entry (install.source)

    @property
    def bin_dir(self) -> Path:
        return self.env_dir / "bin"


def platform(defn, source: Path | None = None, step=lambda text: None) -> Installed:
    """Everything a stack definition's `install:` names, as one result. `source`: the checkout a
    source build uses (else its environment variable); step(text) reports a long build's progress."""
    lock = defn.install.python_lock
    env = python_env_from_lock(defn.platform, Path(lock)) if lock else python_env(defn.platform, defn.install.python)
    extra = [go_binaries(defn.platform, defn.install.go)] if defn.install.go else []
    if defn.install.source:
        extra.append(source_built(defn.platform, defn.install.source, source, step))
    if not extra:
        return env
    parts = [env, *extra]
    firsts = [x.first_install_s for x in parts if x.first_install_s is not None]
    return Installed(
        env.env_dir,
        all(x.cached for x in parts),
        {k: v for x in parts for k, v in x.versions.items()},
        sum(x.footprint_bytes for x in parts),
        sum(firsts) if firsts else None,
        go_bin=next((x.go_bin for x in extra if x.go_bin), None),
        build_dir=next((x.build_dir for x in extra if x.build_dir), None),
    )


def _source_key(spec) -> str:
    recipe = recipe_module(spec.builder)
    return source_build.recipe_key(spec.model_dump(), recipe.RECIPE, recipe.toolchain())


def cannot_build(defn, given: Path | None = None) -> str | None:
    """Why `bench install` cannot provide this platform here (a source build neither cached nor
    given a checkout), or None."""
    spec = defn.install.source
    if spec is None or source_build.is_built(f"{defn.platform}-{spec.version}", _source_key(spec)):
        return None
    try:
        source_build.source_checkout(defn.platform, given, spec.env_var, spec.how_to_get)
    except BenchError as err:
        return str(err)
    return None


def source_built(platform: str, spec, given: Path | None, step) -> Installed:
    """A server built by our recipe from a source checkout, cached by version, recipe and toolchain:
    a cached build needs no checkout."""
    recipe, key = recipe_module(spec.builder), _source_key(spec)

    def build(root: Path) -> dict[str, str]:
        source = source_build.source_checkout(platform, given, spec.env_var, spec.how_to_get)
        return recipe.build(spec, source, root, step)

    got = source_build.cached_build(f"{platform}-{spec.version}", key, build)
    return Installed(got.root, got.cached, got.versions, got.footprint_bytes, got.build_s, build_dir=got.root)


def go_version() -> str | None:
    go = shutil.which("go")
    if not go:
        return None
    done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True)
    return done.stdout.strip().removeprefix("go") if done.returncode == 0 else None


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def go_binaries(platform: str, spec) -> Installed:
    have = go_version()
    if have is None:
        raise BenchError(f"{platform} is built from Go sources: install Go >= {spec.requires_go}")
    if version_tuple(have) < version_tuple(spec.requires_go):
        raise BenchError(f"{platform} needs Go >= {spec.requires_go} to build; this machine has {have}")
    key = hashlib.sha256(json.dumps([spec.model_dump(), have]).encode()).hexdigest()[:12]
    root = CACHE_DIR / "go" / f"{platform}-{spec.version}-{key}"
    bin_dir, marker = root / "bin", root / MARKER
    versions = {spec.module: spec.version, "go": have}
    # Under a lock: two installs sharing the cache once broke each other's Go build here.
    with cache_lock(root.name):
        if marker.is_file():
            info = json.loads(marker.read_text())
            return Installed(root, True, versions, info["footprint_bytes"], info["install_s"], go_bin=bin_dir)
        return _go_build(spec, have, root, versions)


def _go_build(spec, have: str, root: Path, versions: dict[str, str]) -> Installed:
    bin_dir, marker = root / "bin", root / MARKER
    shutil.rmtree(root, ignore_errors=True)
    build = root / "build"
    build.mkdir(parents=True)
    env = {**os.environ, "GOBIN": str(bin_dir), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    started = time.monotonic()
    try:
        # Built inside a throwaway module that requires the pinned version, verified against the
        # module's own go.sum: `go install pkg@version` would also ask the proxy for the module's
        # version list, which is refused for some modules.
        (build / "go.mod").write_text(f"module benchbuild\n\ngo {have}\n\nrequire {spec.module} {spec.version}\n")
        done = _run(
            [shutil.which("go"), "mod", "download", "-json", f"{spec.module}@{spec.version}"], cwd=build, env=env
        )
        module_dir = Path(json.loads(done)["Dir"])
        (build / "go.sum").write_bytes((module_dir / "go.sum").read_bytes())
        tags = ["-tags", ",".join(spec.tags)] if spec.tags else []
        _run(
            [shutil.which("go"), "install", "-trimpath", *tags, *(f"{spec.module}/{p}" for p in spec.packages)],
            cwd=build,
            env=env,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    shutil.rmtree(build, ignore_errors=True)
    footprint = tree_size(bin_dir)
    marker.write_text(json.dumps({"install_s": seconds, "footprint_bytes": footprint, "versions": versions}))
    return Installed(root, False, versions, footprint, seconds, go_bin=bin_dir)


def uv_bin() -> str:
    try:
        from uv import find_uv_bin  # lazy: only when installing

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
    done = subprocess.run(
        [
            uv_bin(),
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-dev",
            "--no-header",
            "--no-annotate",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"uv export failed: {_last(done.stderr)}")
    return done.stdout


def python_env(platform: str, packages: list[str]) -> Installed:
    versions = pins(packages)
    constraints = lock_constraints()
    key = hashlib.sha256(json.dumps([versions, constraints, sys.version]).encode()).hexdigest()[:12]
    env_dir = CACHE_DIR / "envs" / f"{platform}-{key}"

    def fill(python: str) -> None:
        constraints_file = env_dir / "constraints.txt"
        constraints_file.write_text(constraints)
        _run(
            [
                uv_bin(),
                "pip",
                "install",
                "--quiet",
                "--python",
                python,
                "-c",
                str(constraints_file),
                *(f"{n}=={v}" for n, v in versions.items()),
            ]
        )

    return _cached_env(env_dir, versions, fill)


def _cached_env(env_dir: Path, versions: dict[str, str], fill) -> Installed:
    """The environment at env_dir: the cached one when its marker is there, else a new virtualenv
    that fill(python) installs into. The marker is written last: a directory without it is a broken
    earlier attempt, removed first; a failed or interrupted install is removed too."""
    marker = env_dir / MARKER
    with cache_lock(env_dir.name):
        if marker.is_file():
            info = json.loads(marker.read_text())
            return Installed(env_dir, True, versions, info["footprint_bytes"], info["install_s"])
        return _fill_env(env_dir, versions, fill)


def _fill_env(env_dir: Path, versions: dict[str, str], fill) -> Installed:
    marker = env_dir / MARKER
    shutil.rmtree(env_dir, ignore_errors=True)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        _run([uv_bin(), "venv", "--quiet", "--python", sys.executable, str(env_dir)])
        fill(str(env_dir / "bin" / "python"))
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    footprint = tree_size(env_dir)
    marker.write_text(json.dumps({"install_s": seconds, "footprint_bytes": footprint, "versions": versions}))
    return Installed(env_dir, False, versions, footprint, seconds)


def locked_versions(lock: Path) -> dict[str, str]:
    """The direct requirements of a requirements lock file as `uv pip compile` writes it (the pins
    annotated as coming from an input file, `-r`), with their versions; every pin if none is annotated."""
    pins, direct, current = {}, set(), None
    for line in lock.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            if current and "-r " in text:
                direct.add(current)
            continue
        spec = text.split(";", 1)[0].rstrip("\\").strip()
        if "==" in spec and not spec.startswith("-"):
            name, version = spec.split("==", 1)
            current = name.split("[", 1)[0].strip().lower()
            pins[current] = version.strip()
    return {n: v for n, v in pins.items() if n in direct} if direct else pins


def python_env_from_lock(platform: str, lock: Path) -> Installed:
    """The platform's environment installed from its own lock file (every pin, hashes required), for
    a platform whose pins clash with this project's lock. The lock is the cache key; the versions
    recorded are the lock's direct requirements."""
    if not lock.is_file():
        raise BenchError(f"{platform}: python_lock {lock} is missing")
    text = lock.read_text()
    key = hashlib.sha256(json.dumps([text, sys.version]).encode()).hexdigest()[:12]
    env_dir = CACHE_DIR / "envs" / f"{platform}-lock-{key}"
    versions = locked_versions(lock)
    return _cached_env(
        env_dir,
        versions,
        lambda python: _run([uv_bin(), "pip", "sync", "--quiet", "--require-hashes", "--python", python, str(lock)]),
    )


def _run(cmd: list[str], **kw) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])} failed: {_last(done.stderr or done.stdout)}")
    return done.stdout


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
