"""One folder per run: run.json (metadata, status, summaries) and raw samples as parquet.

Everything is written as it is measured (atomic replace), so an interrupted run leaves what
it had, with its status saying so. Secrets are removed from every string before it is written.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .paths import RESULTS_DIR

SCHEMA_VERSION = 1
TABLES = ("tasks", "workflows", "resources")


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
    def __init__(self, platform: str, run_id: str, meta: dict, redact: Redactor, root: Path | None = None):
        self.dir = (root or RESULTS_DIR) / platform / run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        self.redact = redact
        self.doc = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "platform": platform,
                    "status": "running", "started_at": _now(), **meta}
        self.flush()

    def update(self, **fields: Any) -> None:
        self.doc.update(fields)
        self.flush()

    def flush(self) -> None:
        _atomic_write(self.dir / "run.json", json.dumps(self.redact(self.doc), indent=2, default=str).encode())

    def write_table(self, name: str, rows: list[dict]) -> None:
        from .analysis import frame
        df = frame(rows)
        tmp = self.dir / f".{name}.parquet.tmp"
        df.to_parquet(tmp, index=False)
        os.replace(tmp, self.dir / f"{name}.parquet")

    def finish(self, status: str, error: str | None = None) -> None:
        self.doc["status"] = status
        self.doc["finished_at"] = _now()
        if error:
            self.doc["error"] = error
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


def load_run(run_dir: Path) -> dict:
    """run.json plus its tables (empty frames where a table was never written)."""
    doc = json.loads((run_dir / "run.json").read_text())
    tables = {}
    for name in TABLES:
        path = run_dir / f"{name}.parquet"
        tables[name] = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    return {"run": doc, **tables, "dir": run_dir}


def iter_runs(root: Path | None = None):
    root = root or RESULTS_DIR
    for path in sorted(root.glob("*/*/run.json")):
        yield path.parent


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)
