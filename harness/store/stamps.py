"""Reads the stamp files task bodies append to (see taskbody.StampSink), incrementally."""

from __future__ import annotations

import json
from pathlib import Path


class StampReader:
    def __init__(self, directory: Path):
        self.directory = directory
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> list[dict]:
        rows = []
        for path in sorted(self.directory.glob("stamps-*.jsonl")):
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            rows.extend(json.loads(line) for line in complete.splitlines() if line.strip())
        return rows
