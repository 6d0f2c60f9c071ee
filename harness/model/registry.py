"""The platform registry: every `stacks/<name>/platform.yaml`, validated strictly.

A platform registers itself with its own folder (platform.yaml plus native.yaml and/or
compose.yaml) and its adapter module; no list in the code names it. The stacks folder is
`BENCH_STACKS_DIR` when set (tests register fake platforms that way), else the repository's.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict

from harness.model import paths
from harness.model.errors import BenchError
from harness.model.setup_guide import SetupCounts, SetupGuide, setup_counts
from harness.model.yamlfile import load_yaml_model

METADATA_FILE = "platform.yaml"
_ADAPTER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class SeedMatrix(BaseModel):
    """A seed-document platform's column of the document's "Operational Comparison Matrix", as the
    document words it (the report sets what was measured beside each word)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str  # the column's title in the document, e.g. "Temporal"
    position: int  # the column's place in the document (1 first); not `order`, since the
    # document puts Kestra before Hatchet. Unique among the platforms.
    claims: dict[str, str]  # aspect (a row of harness/report/matrix.py ROWS) -> the document's word


class _PlatformFile(BaseModel):
    """What a platform.yaml may hold: every key below, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order: int  # position in every listing (lower first)
    adapter: str  # "module:Class", e.g. harness.platforms.temporal:TemporalAdapter
    kind: Literal["seed", "reference", "harness"]
    represents: str | None  # the seed-document platform it stands for; null for the harness
    native_missing: str | None  # why it cannot run natively, where it cannot; else null
    description: str = ""
    seed_matrix: SeedMatrix | None = None  # its column of the seed document's matrix; only a seed platform
    # that represents itself has one
    # The platform's defaults that decide how it recovers from a fault and that the harness leaves alone
    # (so they are not in the adapter's settings, which hold what differs from the defaults); a fault
    # outcome lists them first. Absent: those of the platform it represents (temporal-dev: temporal's).
    recovery_defaults: list[str] | None = None
    chaos_default: bool = False  # the platform `make chaos` interrupts unless told another (one platform only)
    # What the vendor's own self-hosting guide starts and asks the user to set (harness/model/setup_guide.py).
    # Absent: that of the platform it represents (temporal-dev: temporal's).
    setup_guide: SetupGuide | None = None


class PlatformInfo(_PlatformFile):
    """One registered platform: its platform.yaml plus what its folder holds."""

    name: str  # the folder name
    stack_dir: Path

    @property
    def has_native(self) -> bool:
        return (self.stack_dir / "native.yaml").is_file()

    @property
    def has_compose(self) -> bool:
        return (self.stack_dir / "compose.yaml").is_file()

    @property
    def in_process(self) -> bool:
        """No stack files: the adapter runs inside the harness (null)."""
        return not self.has_native and not self.has_compose


def stacks_root() -> Path:
    """The folder whose subfolders are the platforms."""
    return Path(os.environ.get("BENCH_STACKS_DIR") or paths.STACKS_DIR)


def platforms(root: Path | None = None) -> dict[str, PlatformInfo]:
    """Every platform under root (default stacks_root()), in registry order."""
    root = (root or stacks_root()).resolve()
    files = sorted(root.glob(f"*/{METADATA_FILE}"))
    return _load_all(root, tuple((f, f.stat().st_mtime_ns, f.stat().st_size) for f in files))


def get(name: str, root: Path | None = None) -> PlatformInfo:
    known = platforms(root)
    if name not in known:
        raise BenchError(f"unknown platform {name!r}; known: {', '.join(known)}")
    return known[name]


def seed_platforms(root: Path | None = None) -> list[str]:
    """The seed document's platforms (not the stacks that stand in for them, such as temporal-dev)."""
    return [n for n, i in platforms(root).items() if i.kind == "seed" and i.represents == n]


def orchestrators(root: Path | None = None) -> list[str]:
    """Every platform but the harness's own (null)."""
    return [n for n, i in platforms(root).items() if i.kind != "harness"]


def recovery_defaults(name: str, root: Path | None = None) -> list[str]:
    """The platform defaults that decide recovery from a fault: the platform's own, else (none given)
    those of the platform it represents; none for a name not registered (a result of a removed platform)."""
    known = platforms(root)
    info = known.get(name)
    if info is not None and info.recovery_defaults is None and info.represents:
        info = known.get(info.represents, info)
    return list(info.recovery_defaults or []) if info is not None else []


def setup_guide(name: str, root: Path | None = None) -> SetupGuide | None:
    """The vendor guide's facts for a platform: its own, else those of the platform it represents;
    None where there are none (the harness's null, a name not registered)."""
    info = platforms(root).get(name)
    if info is not None and info.setup_guide is None and info.represents:
        info = platforms(root).get(info.represents, info)
    return info.setup_guide if info is not None else None


def setup_counts_by_platform(root: Path | None = None) -> dict[str, SetupCounts]:
    """Per platform with a guide of its own, in registry order: services, one-shot jobs and required
    configuration keys, each counted from the guide's lists."""
    return {n: setup_counts(i.setup_guide) for n, i in platforms(root).items() if i.setup_guide}


def chaos_platform(root: Path | None = None) -> str:
    """The platform `make chaos` interrupts by default: the one whose platform.yaml says chaos_default."""
    chosen = [n for n, i in platforms(root).items() if i.chaos_default]
    if not chosen:
        raise BenchError(
            f"no platform under {shown_path(root or stacks_root())} has chaos_default: true "
            f"in its {METADATA_FILE}; name one"
        )
    return chosen[0]


def seed_columns(root: Path | None = None) -> list[PlatformInfo]:
    """The platforms with a column in the seed document's matrix, in the document's order."""
    return sorted((i for i in platforms(root).values() if i.seed_matrix), key=lambda i: i.seed_matrix.position)


@lru_cache(maxsize=8)
def _load_all(root: Path, files: tuple[tuple[Path, int, int], ...]) -> dict[str, PlatformInfo]:
    """Keyed by the files with their modification times and sizes, so an edited file is read again."""
    found = [load_info(path) for path, _, _ in files]
    by_name = {i.name: i for i in sorted(found, key=lambda i: (i.order, i.name))}
    for info in by_name.values():
        target = by_name.get(info.represents) if info.represents else None
        if info.represents and (target is None or target.represents != target.name):
            raise BenchError(
                f"{shown_path(info.stack_dir / METADATA_FILE)}: represents: {info.represents!r} "
                f"is not a registered platform that represents itself"
            )
    _unique(by_name, "chaos_default", lambda i: True if i.chaos_default else None)
    _unique(by_name, "seed_matrix.position", lambda i: i.seed_matrix.position if i.seed_matrix else None)
    return by_name


def _unique(by_name: dict[str, PlatformInfo], field: str, value: Callable[[PlatformInfo], object]) -> None:
    """A field only one platform may give a value (one chaos default, one platform per matrix column)."""
    seen: dict[object, PlatformInfo] = {}
    for info in by_name.values():
        v = value(info)
        if v is not None and v in seen:
            raise BenchError(
                f"{shown_path(info.stack_dir / METADATA_FILE)}: {field}: {v!r} is given by "
                f"{shown_path(seen[v].stack_dir / METADATA_FILE)} too (one platform only)"
            )
        if v is not None:
            seen[v] = info


def load_info(path: Path) -> PlatformInfo:
    """One platform.yaml; every problem is one line naming the file and the field."""
    shown = shown_path(path)
    fields = load_yaml_model(path, _PlatformFile, "a platform.yaml", source=shown)
    info = PlatformInfo(**fields.model_dump(), name=path.parent.name, stack_dir=path.parent)
    problem = _inconsistency(info)
    if problem:
        raise BenchError(f"{shown}: {problem}")
    return info


def _inconsistency(info: PlatformInfo) -> str | None:
    """What in a valid file contradicts itself or its folder, as 'field: why'."""
    if not _ADAPTER_PATH.match(info.adapter):
        return f"adapter: {info.adapter!r} is not module:Class"
    if (info.kind == "harness") != (info.represents is None):
        return "represents: null exactly for kind harness (the seed-document platform it stands for, else its own name)"
    if info.kind != "harness" and info.in_process:
        return "kind: a seed or reference platform needs native.yaml or compose.yaml beside its platform.yaml"
    if info.seed_matrix and not (info.kind == "seed" and info.represents == info.name):
        return "seed_matrix: only a seed-document platform that represents itself has a column of its own"
    if info.setup_guide and info.represents != info.name:
        return "setup_guide: only a platform that represents itself has one (a stand-in inherits its platform's)"
    if info.native_missing and info.has_native:
        return "native_missing: set, but native.yaml exists"
    if not info.native_missing and not info.has_native and not info.in_process:
        return "native_missing: required when there is no native.yaml (why it cannot run natively)"
    return None


def shown_path(path: Path) -> str:
    """A path relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)
