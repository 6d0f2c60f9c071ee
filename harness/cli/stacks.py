"""`bench` commands about a platform's stack rather than a measurement: install, list, doctor, up, down.
They register on the app of harness/cli/common.py; harness/cli/app.py imports this module."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from harness import platforms as registry
from harness.cli import doctor as doctor_mod
from harness.cli.common import _docker_probe_once, _ports, _progress, _RichProgress, app, out
from harness.model import spec
from harness.model.errors import BenchError
from harness.platforms.base import Requirement
from harness.stack import definition, install
from harness.stack.backends import BACKENDS, BackendUnavailable, available, resolve


@app.command("install")
def install_cmd(
    platforms: list[str] = typer.Argument(None, help="default: every registered platform with a stack"),
    source: Optional[Path] = typer.Option(
        None, "--source", help="a source checkout to build from (Kestra, Windmill); one platform only"
    ),
):
    """Obtain each platform's artifacts (Python environment, Go binaries, source builds) into the cache, timed.
    With no platform named, a source-built platform with neither a cached build nor a checkout is
    skipped with its reason."""
    if source is not None and len(platforms or []) != 1:
        raise BenchError("--source names one platform's checkout: give exactly one platform")
    names = platforms or [p for p in registry.orchestrators() if registry.get(p).has_native]
    for name in names:
        if not registry.get(name).has_native:
            raise BenchError(f"{name} has nothing to install natively (compose stacks pull images at run time)")
        defn = definition.load(name)
        if source is not None and defn.install.source is None:
            raise BenchError(f"{name} is not built from a source checkout: --source does not apply")
        why = install.cannot_build(defn, source)
        if why and not platforms:
            out.print(f"{name}: skipped: {why}", soft_wrap=True)
            continue
        with _progress() as p:
            task = p.add_task(f"installing {name}", total=None)
            t = time.monotonic()
            step = lambda text: p.update(task, description=f"installing {name}: {text}")
            done = install.platform(defn, source, step)
        took = time.monotonic() - t
        out.print(
            f"{name}: {'cached' if done.cached else 'installed'} in {took:.1f}s "
            f"({done.footprint_bytes / 2**20:.0f} MB; {', '.join(f'{k} {v}' for k, v in done.versions.items())})",
            soft_wrap=True,
        )


def _variants(info: registry.PlatformInfo) -> str:
    if info.in_process:
        return "in-process"
    if not info.has_native:
        return "compose only"
    d = definition.load(info.name)
    return ", ".join(f"{v}{' (default)' if d.variants[v].default else ''}" for v in d.variants)


def _runs_here(info: registry.PlatformInfo, engine) -> str:
    """The backend `--backend auto` picks here and whether its requirements are met, or why not."""
    try:
        backend = resolve("auto", info, engine)
    except BackendUnavailable as err:
        return f"no: needs {err.needs} (see bench doctor)"
    missing = [r.what for r in doctor_mod.check(info.name, "auto", engine) if not r.ok]
    return f"no ({backend}): needs {', '.join(missing)}" if missing else f"yes ({backend})"


def _workload_kind(w: spec.Workload) -> str:
    if w.fault is not None:
        return "fault"
    return {"sweep": "rate sweep", "idle": "idle"}.get(w.shape, w.shape)


@app.command("list")
def list_cmd(long: bool = typer.Option(False, "--long", help="every workload's size and description, each backend")):
    """Platforms with their stack variants and whether they run here; workloads by kind; backends."""
    engine = _docker_probe_once()
    table = Table("platform", "kind", "stack variants", "runs here (auto)", box=box.SIMPLE_HEAD)
    for column in table.columns:
        column.overflow = "fold"
    for name, info in registry.platforms().items():
        table.add_row(name, info.kind, _variants(info), _runs_here(info, engine))
    out.print(table)
    loaded = [spec.load(name) for name in spec.available()]
    if long:
        _workloads_long(loaded)
    else:
        by_kind: dict[str, list[str]] = {}
        for w in loaded:
            by_kind.setdefault(_workload_kind(w), []).append(w.name)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for kind, names in by_kind.items():
            grid.add_row(kind, ", ".join(names))
        out.print(f"workloads ({len(loaded)}):", highlight=False)
        out.print(grid)
    no_engine = engine()
    here = {"compose": "yes" if no_engine is None else f"no: {no_engine}", "auto": "per platform (above)"}
    if long:
        backends = Table("backend", "what", "here", box=box.SIMPLE_HEAD)
        for name, what in BACKENDS.items():
            backends.add_row(name, what, here.get(name, "yes"))
        out.print(backends)
    else:
        shown = [b if b != "compose" or no_engine is None else "compose (no Docker engine here)" for b in BACKENDS]
        out.print(f"backends: {', '.join(shown)}", highlight=False)
        out.print("details: `bench list --long`; what is missing: `bench doctor`", highlight=False)


def _workloads_long(loaded: list[spec.Workload]) -> None:
    """One block per workload: its name beside kind, size and repetitions, the description below them."""
    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True, style="bold")  # a name is never folded: the widest is 24 columns
    grid.add_column(overflow="fold")
    for w in loaded:
        size = f"{w.duration_s:.0f} s" if w.shape == "idle" else f"{w.tasks} tasks x {w.runs} runs"
        meta = Text(f"{_workload_kind(w)}, {size}, warmup {w.warmup} + {w.repetitions} measured", style="dim")
        grid.add_row(w.name, Group(meta, Text(w.description, overflow="fold")))
    out.print(grid)


DOCTOR_HELP = (
    "Which platforms can run on this machine, by which backend; for the others, what is missing, each cause "
    "said once.\n\n"
    "Exit 0 when every platform asked for can run here by some backend, 1 otherwise. With no PLATFORM named, "
    "those are the platforms this machine has a backend for (a native stack, or compose where a Docker engine "
    "answers): a compose-only platform without an engine is listed, not counted."
)


@app.command(help=DOCTOR_HELP)  # one string: rich keeps a docstring's line breaks inside a paragraph
def doctor(
    platforms: list[str] = typer.Argument(None, metavar="PLATFORM", help="default: every platform with a backend here"),
    long: bool = typer.Option(False, "--long", help="also every requirement met, with its version"),
):
    for name in platforms or []:
        registry.get(name)
    engine = _docker_probe_once()
    causes: dict[tuple[str, str], int] = {}  # (what is missing, how to get it) -> its footnote number
    table = Table("platform", "runs here", *("native", "compose"), box=box.SIMPLE_HEAD, pad_edge=False)
    cannot, not_counted, details = [], [], []
    for name, info in registry.platforms().items():
        if info.kind == "harness" or (platforms and name not in platforms):
            continue
        checked = {b: doctor_mod.check(name, b, engine) for b in available(info)}
        ok_by = [b for b, reqs in checked.items() if all(r.ok for r in reqs)]
        cells = [_doctor_cell(info, b, checked.get(b), causes) for b in ("native", "compose")]
        table.add_row(name, f"yes ({', '.join(ok_by)})" if ok_by else "no", *cells)
        if not ok_by:
            asked = bool(platforms) or info.has_native or engine() is None
            (cannot if asked else not_counted).append(name)
        details += [f"  {name} {b}: {'ok' if r.ok else 'MISSING'} {r.what}" for b, rs in checked.items() for r in rs]
    out.print(table)
    for (what, fix), n in causes.items():
        out.print(f"[{n}] {what}" + (f": {fix}" if fix else ""), markup=False, highlight=False)
    if long:
        out.print("\n".join(["", "requirements:", *details]), markup=False, highlight=False)
    if not_counted:
        out.print(f"not counted (no backend here; name it to count it): {', '.join(not_counted)}", highlight=False)
    if cannot:
        out.print(f"cannot run here: {', '.join(cannot)}", highlight=False)
        raise typer.Exit(1)


def _doctor_cell(info, backend: str, reqs, causes: dict[tuple[str, str], int]) -> str:
    """ok, `–` (no such stack), or the footnotes of what this backend lacks (each cause numbered once)."""
    if reqs is None:  # the platform has no such stack: a cause only where it says why it cannot have one
        if backend != "native" or not info.native_missing:
            return "–"
        reqs = [Requirement("no native stack", False, info.native_missing)]
    missing = [r for r in reqs if not r.ok]
    if not missing:
        return "ok"
    numbers = [causes.setdefault((r.what, r.fix), len(causes) + 1) for r in missing]
    return "no " + " ".join(f"[{n}]" for n in numbers)


def _print_endpoints(endpoints: dict[str, str], log_dir: Path) -> None:
    # one line each, never wrapped or styled: a token wrapped at the terminal's width cannot be copied
    for key, value in {**endpoints, "logs": str(log_dir)}.items():
        out.print(f"{key}: {value}", soft_wrap=True, markup=False, highlight=False)


@app.command()
def up(
    platform: str,
    variant: Optional[str] = typer.Option(None),
    port: list[str] = typer.Option([], help="pin a port: NAME=PORT (repeatable)"),
):
    """Start PLATFORM's stack in the background on 127.0.0.1 (stop it with `bench down`)."""
    from harness.run import background  # lazy: the driver's stack (seconds)

    with _progress() as p:
        started = background.up(platform, variant, _ports(port), _RichProgress(p, platform))
    _print_endpoints(started.endpoints, Path(started.log_dir))


@app.command()
def down(platform: str):
    """Stop a stack started with `bench up` and remove its run directory."""
    from harness.run import background  # lazy: the driver's stack (seconds)

    background.down(platform)
    out.print(f"{platform}: stopped", soft_wrap=True, markup=False, highlight=False)
