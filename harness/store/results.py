"""One folder per run: run.json (the RunRecord of harness/model/record.py) and raw samples as parquet.

Everything is written as it is measured (atomic replace), so an interrupted run leaves what
it had, with its status saying so. Secrets are removed from every string before it is written.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from pydantic import ValidationError

from harness.analysis.runs import frame
from harness.model.errors import BenchError
from harness.model.paths import RESULTS_DIR
from harness.model.record import (
    SCHEMA_VERSION,
    RunRecord,
    RunStatus,
    load_record,
    validation_line,
)

__all__ = ["SCHEMA_VERSION", "RunRecorder", "RunData", "Redactor", "load_run", "iter_runs", "new_run_id"]
TABLES = ("tasks", "workflows", "resources")
LOAD_TABLES = ("load_submissions", "load_tasks")  # a rate sweep's raw records, beside the run's tables


def new_run_id(workload: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{workload}-{os.urandom(3).hex()}"


class Redactor:
    def __init__(self, secrets: list[str] | None = None):
        self.secrets = [s for s in (secrets or []) if s]

    def add(self, secrets: list[str]) -> None:
        self.secrets.extend(s for s in secrets if s and s not in self.secrets)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value


class RunRecorder:
    """Writes one run's folder as it goes: run.json from `record` (the driver updates the model, then
    calls flush()), the raw tables, the services' logs. Every file is replaced atomically, so an
    interrupted run leaves the last complete version of each, never half a file."""

    def __init__(self, record: RunRecord, redact: Redactor, root: Path | None = None):
        self.dir = (root or RESULTS_DIR) / record.platform / record.run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self.redact = redact
        self.record = record
        self.flush()

    def flush(self) -> None:
        """Write run.json from the record. What is written is validated first, so every file the
        harness writes loads back (a wrong type set by the driver fails here, loudly)."""
        doc = self.redact(self.record.model_dump(mode="json"))
        try:
            RunRecord.model_validate(doc)
        except ValidationError as err:
            raise BenchError(
                f"{self.dir / 'run.json'}: the harness built an invalid record: {validation_line(err)}"
            ) from None
        atomic_write(self.dir / "run.json", json.dumps(doc, indent=2, allow_nan=False).encode())

    def write_table(self, name: str, rows: list) -> None:
        if name not in TABLES + LOAD_TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES + LOAD_TABLES)}")
        buf = io.BytesIO()
        frame(rows).to_parquet(buf, index=False)
        atomic_write(self.dir / f"{name}.parquet", buf.getvalue())

    def finish(self, status: RunStatus, error: str | None = None) -> None:
        self.record.status = status
        self.record.finished_at = datetime.now(timezone.utc)
        if error:
            self.record.error = error
        self.flush()

    def copy_logs(self, log_dir: Path) -> None:
        """Service logs, redacted, so a failure can be diagnosed from results alone."""
        if not log_dir.is_dir():
            return
        out = self.dir / "logs"
        out.mkdir(exist_ok=True)
        for log in sorted(log_dir.glob("*.log")):
            text = log.read_bytes()[-2_000_000:].decode(errors="replace")
            (out / log.name).write_text(self.redact(text))


@dataclass
class RunData:
    """One run read back: the record and its raw tables (empty frames where a table was never written)."""

    record: RunRecord
    tasks: pd.DataFrame
    workflows: pd.DataFrame
    resources: pd.DataFrame
    dir: Path


def load_run(run_dir: Path) -> RunData:
    record = load_record(run_dir / "run.json")
    tables = {}
    for name in TABLES:
        path = run_dir / f"{name}.parquet"
        try:
            tables[name] = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        except Exception as err:  # pyarrow raises several types for a truncated or foreign file
            raise BenchError(f"{path}: unreadable parquet: {str(err).strip().splitlines()[0][:200]}") from None
    return RunData(record=record, dir=run_dir, **tables)


def iter_runs(root: Path | None = None) -> Iterator[Path]:
    """Every run folder under root (results/<platform>/<run-id>/run.json)."""
    root = root or RESULTS_DIR
    for path in sorted(root.glob("*/*/run.json")):
        yield path.parent


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def atomic_write(path: Path, data: bytes) -> None:
    """tmp file, fsync, rename, fsync of the folder: after a crash the file is the old or the new
    version, whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)
