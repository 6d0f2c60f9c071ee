"""The driver's side of one open-loop load step: start Locust's master and workers, wait, read the
records, account for every submission. Never imports Locust or gevent (they patch the standard
library and break the asyncio SDKs): Locust runs only in the processes started here.

Distributed generation: `remote_workers=N` makes the master wait for N more workers, which connect
from other hosts by address (`master_bind` must then be an address they reach); see the README's
"Load generation" section for the command to run there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from harness.analysis.stats import latency_summary
from harness.load.records import read_share
from harness.load.schedule import LAG_P99_LIMIT_MS, LATE_NS, HttpTarget, Step, check_id_prefix
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT
from harness.model.record import LatencySummary

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# t0 this long after the master hands out the schedule: time for the message to reach every worker
# and for its user to start. A worker that is still late shows it as lag on its first submissions.
START_DELAY_S = 1.0
# Process start (Locust's import takes about a second) and workers connecting, beyond the step itself.
STARTUP_TIMEOUT_S = 60.0
REMOTE_WAIT_S = 300.0
STOP_GRACE_S = 3.0
RECORD_COLUMNS = [
    "seq",
    "worker",
    "workflow_id",
    "warmup",
    "intended_ns",
    "send_ns",
    "ack_ns",
    "http_status",
    "retries",
    "error",
]


@dataclass
class StepResult:
    records: pd.DataFrame  # one row per submission, see RECORD_COLUMNS
    lag_ms: LatencySummary | None  # send - intended, measured part
    late: int  # measured submissions sent > 1 ms late or never sent
    errors: int  # measured submissions not acknowledged with a 2xx
    offered_per_s: float
    sent_per_s: float  # sends inside the measured window / its length
    acked_per_s: float  # 2xx acknowledgements inside the measured window / its length
    workers: int  # Locust worker processes used
    # beyond the agreed API, for the sweeps and the report:
    latency_from_intended_ms: LatencySummary | None = None  # ack - intended (coordinated omission corrected)
    latency_from_send_ms: LatencySummary | None = None  # ack - send
    t0_ns: int = 0
    window_ns: tuple[int, int] = (0, 0)  # the measured window [start, end)
    worker_reports: dict = field(default_factory=dict)  # per worker: senders (connections), cpu_s, clock

    @property
    def setup(self) -> str | None:
        """How the workers ran, e.g. "SCHED_FIFO 10; idle CPUs poll (...)"; variants joined with " | "."""
        return describe_setup(self.worker_reports)

    @property
    def generator_kept_up(self) -> bool:
        """Send lag p99 under the limit: only then can saturation be blamed on the target."""
        return self.lag_ms is not None and self.lag_ms.p99_ms < LAG_P99_LIMIT_MS


def describe_setup(reports: dict) -> str | None:
    """The distinct scheduling and CPU-idle settings the Locust workers reported."""
    found = sorted(
        {"; ".join(str(rep[k]) for k in ("scheduling", "cpu_idle") if rep.get(k)) for rep in reports.values()} - {""}
    )
    return " | ".join(found) or None


def run_step(
    target: HttpTarget,
    step: Step,
    id_prefix: str,
    out_dir: Path,
    workers: int = 1,
    remote_workers: int = 0,
    master_bind: str = "127.0.0.1",
    master_port: int = 0,
) -> StepResult:
    """Offer `step` to `target` open-loop from `workers` local (+ `remote_workers`) Locust worker
    processes; every process started here has ended when this returns or raises. Remote workers
    connect to master_bind:master_port (0: a free port, written to `master_port` in out_dir)."""
    try:
        check_id_prefix(id_prefix)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    if workers < 0 or remote_workers < 0 or workers + remote_workers < 1:
        raise BenchError(f"load step needs at least one Locust worker (workers={workers}, remote={remote_workers})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total_workers = workers + remote_workers
    step_file = _write_plan(out_dir, target, step, id_prefix, total_workers)
    procs: list[subprocess.Popen] = []
    try:
        port = master_port or _free_port(master_bind)
        (out_dir / "master_port").write_text(str(port))
        procs.append(_start_master(out_dir, step_file, master_bind, port, total_workers, remote_workers))
        connect = "127.0.0.1" if master_bind in ("0.0.0.0", "") else master_bind
        procs += [_start_worker(out_dir, n, connect, port) for n in range(workers)]
        budget = (
            STARTUP_TIMEOUT_S
            + (REMOTE_WAIT_S if remote_workers else 0)
            + START_DELAY_S
            + step.warmup_s
            + step.duration_s
            + step.drain_s
        )
        _wait_for_master(procs, out_dir, budget)
    finally:
        _stop_all(procs)
        step_file.unlink(missing_ok=True)
    records = read_records(out_dir, step, id_prefix, total_workers)
    records.to_parquet(out_dir / "records.parquet", index=False)
    return summarize(
        records,
        step,
        t0_ns=int((out_dir / "t0_ns").read_text()),
        workers=total_workers,
        reports=json.loads((out_dir / "workers.json").read_text()),
    )


def _write_plan(out_dir: Path, target: HttpTarget, step: Step, id_prefix: str, workers: int) -> Path:
    plan = {
        "out_dir": str(out_dir.resolve()),
        "workers": workers,
        "start_delay_s": START_DELAY_S,
        "share": {
            "target": target.model_dump(mode="json"),
            "step": step.model_dump(mode="json"),
            "id_prefix": id_prefix,
            "total": step.total_count,
        },
    }
    path = out_dir / "step-plan.json"
    path.unlink(missing_ok=True)
    # mode 0600 from creation: the target's headers may hold a token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(plan, f)
    for stale in (
        *out_dir.glob("records-w*.npz"),
        out_dir / "records.parquet",
        out_dir / "workers.json",
        out_dir / "t0_ns",
        out_dir / "worker-errors.json",
    ):
        stale.unlink(missing_ok=True)
    return path


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _locust(out_dir: Path, log_name: str, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    log = (out_dir / log_name).open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()


def _start_master(out_dir: Path, step_file: Path, bind: str, port: int, workers: int, remote: int):
    wait = STARTUP_TIMEOUT_S + (REMOTE_WAIT_S if remote else 0)
    return _locust(
        out_dir,
        "locust-master.log",
        [
            "--master",
            "--headless",
            "--master-bind-host",
            bind,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            str(int(wait)),
            "-u",
            str(workers),
            "-r",
            str(workers),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--bench-step",
            str(step_file),
            "--bench-out",
            str(out_dir),
        ],
    )


def _start_worker(out_dir: Path, n: int, host: str, port: int) -> subprocess.Popen:
    return _locust(
        out_dir,
        f"locust-worker-{n}.log",
        [
            "--worker",
            "--master-host",
            host,
            "--master-port",
            str(port),
            "--loglevel",
            "WARNING",
            "--bench-out",
            str(out_dir),
        ],
    )


def _wait_for_master(procs: list[subprocess.Popen], out_dir: Path, budget_s: float) -> None:
    master, deadline = procs[0], time.monotonic() + budget_s
    while (rc := master.poll()) is None:
        for n, worker in enumerate(procs[1:]):
            if worker.poll() not in (None, 0):
                raise BenchError(
                    f"Locust worker {n} exited with code {worker.returncode}: "
                    f"{_last_line(out_dir / f'locust-worker-{n}.log')}"
                )
        if time.monotonic() > deadline:
            raise BenchError(f"load step did not end within {budget_s:.0f} s (see {out_dir / 'locust-master.log'})")
        time.sleep(0.1)
    failure = out_dir / "worker-errors.json"
    if failure.exists():
        raise BenchError(f"load step failed: {json.loads(failure.read_text())['error']}")
    if rc != 0 or not (out_dir / "workers.json").exists():
        raise BenchError(f"Locust master exited with code {rc}: {_last_line(out_dir / 'locust-master.log')}")


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def _stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to every process group, SIGKILL to what is left after a grace period.

    Waits through psutil, never Popen.wait(): a Ctrl-C landing inside Popen.poll() (called every
    0.1 s while the step runs) can leave the Popen's internal lock taken, and Popen.wait() would
    then block forever. psutil waits on the pid itself and reaps it."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    _, alive = psutil.wait_procs(_still_ours(procs), timeout=STOP_GRACE_S)
    for proc in procs:
        _signal_group(proc, signal.SIGKILL)  # also reaches children of an already-exited leader
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)


def _still_ours(procs: list[subprocess.Popen]) -> list[psutil.Process]:
    """The processes not yet reaped (a reaped pid may already belong to someone else)."""
    out = []
    for proc in procs:
        if proc.returncode is None:
            try:
                out.append(psutil.Process(proc.pid))
            except psutil.NoSuchProcess:
                pass
    return out


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def read_records(out_dir: Path, step: Step, id_prefix: str, workers: int) -> pd.DataFrame:
    """Every worker's records as one table ordered by seq, with the outcome of each submission."""
    files = sorted(Path(out_dir).glob("records-w*.npz"))
    if len(files) != workers:
        raise BenchError(f"{len(files)} of {workers} Locust workers returned records to {out_dir}")
    df = pd.concat([_worker_frame(f, step) for f in files], ignore_index=True).sort_values("seq", ignore_index=True)
    if not df["seq"].equals(pd.Series(range(step.total_count), dtype=df["seq"].dtype)):
        raise BenchError(f"load records in {out_dir} do not cover submissions 0..{step.total_count - 1} exactly once")
    df["workflow_id"] = id_prefix + "-" + df["seq"].astype(str)
    df["warmup"] = df["seq"] < step.warmup_count
    for col in ("send_ns", "ack_ns"):
        df[col] = df[col].astype("Int64").mask(df[col] == 0)
    df["error"] = df["error"].where(df["error"].notna(), _outcome(df, step))
    return df[RECORD_COLUMNS]


def _worker_frame(path: Path, step: Step) -> pd.DataFrame:
    share = read_share(path)
    seq = np.arange(share.worker, step.total_count, share.workers, dtype=np.int64)
    if len(seq) != len(share.intended_ns):
        raise BenchError(
            f"{path}: {len(share.intended_ns)} records, but worker {share.worker} of "
            f"{share.workers} owns {len(seq)} submissions"
        )
    errors = [None] * len(seq)
    for k, text in share.errors.items():
        errors[k] = text
    return pd.DataFrame(
        {
            "seq": seq,
            "worker": share.worker,
            "intended_ns": share.intended_ns,
            "send_ns": share.send_ns,
            "ack_ns": share.ack_ns,
            "http_status": share.http_status.astype(np.int64),
            "retries": share.retries.astype(np.int64),
            "error": pd.Series(errors, dtype=object),
        }
    )


def _outcome(df: pd.DataFrame, step: Step) -> pd.Series:
    """An error text for submissions without a transport error that still failed."""
    out = pd.Series([None] * len(df), index=df.index, dtype=object)
    out[df["send_ns"].isna()] = "not sent: the step ended first"
    out[df["send_ns"].notna() & df["ack_ns"].isna()] = (
        f"no acknowledgement within {step.drain_s:g} s of the last intended time"
    )
    bad = df["ack_ns"].notna() & ((df["http_status"] < 200) | (df["http_status"] >= 300))
    out[bad] = "HTTP " + df.loc[bad, "http_status"].astype(str)
    return out


def summarize(df: pd.DataFrame, step: Step, t0_ns: int, workers: int, reports: dict | None = None) -> StepResult:
    """Coordinated-omission-safe accounting of one step's records (measured part only)."""
    start = t0_ns + round(step.warmup_s * 1e9)
    end = start + round(step.duration_s * 1e9)
    measured = df[~df["warmup"]]
    sent = measured["send_ns"].notna()
    lag = (measured["send_ns"] - measured["intended_ns"])[sent]
    ok = measured["error"].isna()
    in_window = lambda col: int(df[col].between(start, end - 1, inclusive="both").sum())  # noqa: E731
    acked_in_window = int((df["error"].isna() & df["ack_ns"].between(start, end - 1)).sum())
    return StepResult(
        records=df,
        lag_ms=latency_summary(lag.astype("float64")),
        late=int((~sent).sum() + (lag > LATE_NS).sum()),
        errors=int((~ok).sum()),
        offered_per_s=step.rate_per_s,
        sent_per_s=in_window("send_ns") / step.duration_s,
        acked_per_s=acked_in_window / step.duration_s,
        workers=workers,
        latency_from_intended_ms=latency_summary((measured["ack_ns"] - measured["intended_ns"])[ok].astype("float64")),
        latency_from_send_ms=latency_summary((measured["ack_ns"] - measured["send_ns"])[ok].astype("float64")),
        t0_ns=t0_ns,
        window_ns=(start, end),
        worker_reports=reports or {},
    )
