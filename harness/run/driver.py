"""The driver: brings a stack up, runs a workload through an adapter and takes every timing.

Flow of data: stack -> driver -> samples -> stats -> results. All harness-side timestamps are
time.time_ns() on the same host clock the task bodies stamp with; durations are time.monotonic().
The driver talks to a Stack (harness/stack/base.py) and an Adapter (harness/platforms/base.py)
and never asks which backend or platform it has.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness import platforms
from harness.model.errors import BenchError, RunInterrupted
from harness.model.record import DeploymentShape, RunRecord, WorkloadRef
from harness.model.spec import Workload
from harness.run.bounded import BoundedAdapter
from harness.run.guards import interrupts, signals_deferred
from harness.run.ledger import RunLedger
from harness.run.session import RunSession
from harness.run.shapes import executor_for
from harness.stack.base import Stack
from harness.stack.factory import StackRequest, open_stack
from harness.store import machine
from harness.store.results import Redactor, RunRecorder, new_run_id

Progress = Callable[..., None]  # progress(event, **details); the CLI draws it


@dataclass
class RunOptions:
    platform: str
    workload: Workload
    variant: str | None = None
    backend: str = "auto"  # auto | native | compose | external
    external_config: Path | None = None
    pinned_ports: dict[str, int] = field(default_factory=dict)
    sample_hz: float = 5.0
    results_root: Path | None = None
    keep_run_dir: bool = False


def run(opts: RunOptions, progress: Progress = lambda *a, **k: None) -> Path:
    """One run: a result folder under results/<platform>/<run id>/, whatever happens in it."""
    info = platforms.get(opts.platform)
    adapter = platforms.adapter_class(opts.platform)()
    run_id = new_run_id(opts.workload.name)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{opts.platform}-"))
    stamps_dir = run_dir / "stamps"
    stamps_dir.mkdir()
    ledger = RunLedger.open(run_id, run_dir)
    try:
        stack = open_stack(
            info,
            StackRequest(
                run_dir,
                run_id,
                stamps_dir,
                opts.backend,
                opts.variant,
                opts.pinned_ports,
                opts.external_config,
                ledger=ledger,
            ),
        )
        redact = Redactor()
        recorder = RunRecorder(_new_record(opts, run_id, stack, adapter.wait_poll_s), redact, opts.results_root)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        ledger.close()
        raise
    ledger.set_result_dir(recorder.dir)
    bounded = BoundedAdapter(adapter, opts.platform, opts.workload.timeout_s)
    session = RunSession(opts.workload, bounded, stack, recorder, redact, run_dir, stamps_dir, opts.sample_hz, progress)
    status, error = "failed", None
    try:
        with interrupts():
            session.execute(executor_for(opts.workload))
        status = "complete" if session.all_repetitions_ok() else "failed"
        if status == "failed":
            error = "one or more repetitions failed validation; see repetitions"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C or SIGTERM)"
        raise RunInterrupted(f"partial results kept in {recorder.dir}") from None
    except BenchError as err:
        error = redact(str(err))
        raise BenchError(f"{error} (partial results in {recorder.dir})") from None
    except Exception as err:  # an SDK or HTTP error from an adapter: one line, not a traceback
        error = redact(_one_line(opts.platform, err))
        raise BenchError(f"{error} (partial results in {recorder.dir})") from None
    finally:
        with signals_deferred():
            session.shutdown()
            recorder.finish(status, redact(error) if error else None)
            if not opts.keep_run_dir:
                shutil.rmtree(run_dir, ignore_errors=True)
            if not session.stop_error:  # else the next command looks for what may be left running
                ledger.close()
    if session.stop_error:  # measured fine, but something may be left running: the user must hear of it
        raise BenchError(f"the stack did not stop cleanly: {redact(session.stop_error)} (results in {recorder.dir})")
    return recorder.dir


def _new_record(opts: RunOptions, run_id: str, stack: Stack, wait_poll_s: float | None) -> RunRecord:
    shape = stack.shape()
    wl = opts.workload
    return RunRecord(
        run_id=run_id,
        platform=opts.platform,
        started_at=datetime.now(timezone.utc),
        machine=machine.machine(),
        harness=machine.harness_revision(),
        backend=shape.backend,
        backend_requested=opts.backend,
        workload=WorkloadRef(name=wl.name, hash=wl.digest(), spec=wl.model_dump()),
        deployment=DeploymentShape(
            kind=shape.kind,
            backend=shape.backend,
            variant=shape.variant,
            description=shape.description,
            default_variant=shape.default_variant,
            vendor_production=shape.vendor_production,
        ),
        wait_poll_s=wait_poll_s,
    )


def _one_line(platform: str, err: Exception) -> str:
    if os.environ.get("BENCH_DEBUG"):
        traceback.print_exc()
    lines = str(err).strip().splitlines()
    return f"{platform}: {type(err).__name__}: {lines[0][:300] if lines else ''}"
