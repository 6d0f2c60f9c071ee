"""The verdicts of `bench claims`, kept between runs: evaluating every claim re-reads and re-summarises
every run's samples (tens of seconds), while the answer changes only when its inputs do.

An entry is keyed by a digest of its inputs: the path, size and modification time of every file of
every run folder under the results folder, the claims file's bytes, and the files the verdicts are
computed by (the harness's Python sources, workloads, stack definitions, the lock). Any change to one of
them is a different key, so a stale entry is never read; one entry is kept per (results folder, claims
file) under STATE_DIR/cache/, replaced when its key changes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from harness.cli.claims_view import ClaimsDoc
from harness.model.paths import REPO_ROOT, STATE_DIR

CACHE_FORMAT = 1  # raise when ClaimsDoc changes shape: older entries are then recomputed
# What verdicts are computed from besides the results and the claims file (globs under the repository).
# harness.claims.model.CLAIMS_FILE, named here because importing harness.claims costs seconds (pandas)
DEFAULT_CLAIMS = REPO_ROOT / "claims" / "claims.yaml"
CODE = ("harness/**/*.py", "workloads/**/*.yaml", "stacks/**/*.yaml", "uv.lock")


def _stat_line(path: Path, root: Path) -> bytes:
    st = path.stat()
    return f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()


def _run_files(results: Path) -> list[Path]:
    """Every file of every run folder (<platform>/<run-id>/ with a run.json), as collect() finds them;
    the report's folder and hidden ones (a state folder a test keeps there) are not inputs."""
    found = []
    for platform in sorted(results.iterdir()):
        if not platform.is_dir() or platform.name == "report" or platform.name.startswith("."):
            continue
        for run in sorted(platform.iterdir()):
            if (run / "run.json").is_file():
                for folder, _, files in os.walk(run):
                    found += [Path(folder) / f for f in files]
    return sorted(found)


def key(results: Path, claims_file: Path) -> str:
    """The digest of everything the verdicts over `results` depend on."""
    h = hashlib.sha256(f"{CACHE_FORMAT}\0{results.resolve()}\0{claims_file.resolve()}\0".encode())
    h.update(claims_file.read_bytes())
    for path in _run_files(results):
        h.update(_stat_line(path, results))
    for pattern in CODE:
        for path in sorted(REPO_ROOT.glob(pattern)):
            h.update(_stat_line(path, REPO_ROOT))
    return h.hexdigest()


def entry_path(results: Path, claims_file: Path, state: Path | None = None) -> Path:
    """The one cache file of this (results folder, claims file)."""
    name = hashlib.sha256(f"{results.resolve()}\0{claims_file.resolve()}".encode()).hexdigest()[:16]
    return (state or STATE_DIR) / "cache" / f"claims-{name}.json"


def load(path: Path, wanted: str) -> ClaimsDoc | None:
    """The cached verdicts if the entry was made from exactly these inputs, else None."""
    try:
        entry = json.loads(path.read_text())
        if entry.get("key") != wanted:
            return None
        return ClaimsDoc.model_validate(entry["doc"])
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None  # missing, cut short or of an older shape: computed afresh


def store(path: Path, wanted: str, doc: ClaimsDoc) -> None:
    """Write the entry whole (a reader sees the old one or the new one); a folder that cannot be
    written only costs the next run its time, so that is not an error."""
    text = json.dumps({"key": wanted, "doc": doc.model_dump()})  # json, not pydantic: NaN stays NaN
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".claims-", delete=False) as f:
            f.write(text)
        os.replace(f.name, path)
    except OSError:
        return


def verdicts(
    results: Path, claims_file: Path | None, use_cache: bool = True, state: Path | None = None
) -> tuple[ClaimsDoc, bool]:
    """Every claim's verdict over `results` and whether it came from the cache. A result with a claim
    that could not be evaluated (a bug) is never kept: the next run evaluates it again."""
    claims_path = claims_file or DEFAULT_CLAIMS
    wanted = key(results, claims_path) if claims_path.is_file() else ""
    path = entry_path(results, claims_path, state)
    if use_cache and wanted and (doc := load(path, wanted)) is not None:
        return doc, True
    from harness.claims import table  # lazy: pandas, the claims (seconds)

    doc = ClaimsDoc.model_validate(table.document(table.results_for(results, claims_file)))
    if wanted and doc.error is None:
        store(path, wanted, doc)
    return doc, False
