"""`bench` commands about a platform's stack rather than a measurement: install, list, doctor, up, down.
They register on the app of harness/cli/common.py; harness/cli/app.py imports this module."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from harness import platforms as registry
from harness.cli import doctor as doctor_mod
from harness.cli.common import _docker_probe_once, _ports, _progress, _RichProgress, app, out
from harness.model import spec
from harness.model.errors import BenchError
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


@app.command("list")
def list_cmd():
    """Platforms, workloads and backends."""
    engine = _docker_probe_once()
    table = Table("platform", "kind", "stack variants", "runs here (--backend auto)", title="platforms")
    for name, info in registry.platforms().items():
        table.add_row(name, info.kind, _variants(info), _runs_here(info, engine))
    out.print(table)
    table = Table("workload", "shape", "tasks x runs", "warmup+reps", "description", title="workloads")
    for name in spec.available():
        w = spec.load(name)
        size = f"{w.duration_s:.0f}s" if w.shape == "idle" else f"{w.tasks} x {w.runs}"
        table.add_row(name, w.shape, size, f"{w.warmup}+{w.repetitions}", w.description)
    out.print(table)
    no_engine = engine()
    table = Table("backend", "what", "here", title="backends")
    for name, what in BACKENDS.items():
        here = {
            "compose": "yes" if no_engine is None else f"no: {no_engine}",
            "auto": "per platform: see 'runs here' above",
        }.get(name, "yes")
        table.add_row(name, what, here)
    out.print(table)


@app.command()
def doctor():
    """Which platforms can run on this machine, by which backend; for the others, what is missing."""
    engine = _docker_probe_once()
    all_ok = True
    for name, info in registry.platforms().items():
        if info.kind == "harness":
            continue
        checked = {b: doctor_mod.check(name, b, engine) for b in available(info)}
        ok_by = [b for b, reqs in checked.items() if all(r.ok for r in reqs)]
        all_ok &= bool(ok_by)
        if ok_by:
            out.print(f"[bold]{name}[/bold]: [green]runnable[/green] ({', '.join(ok_by)})")
        else:
            missing = [f"{b}: {r.fix or r.what}" for b, reqs in checked.items() for r in reqs if not r.ok]
            why = info.native_missing
            out.print(
                f"[bold]{name}[/bold]: [red]not runnable here[/red]: " + "; ".join(([why] if why else []) + missing),
                soft_wrap=True,
            )
        for backend, reqs in checked.items():
            for r in reqs:
                out.print(
                    f"  {backend:8} {'ok     ' if r.ok else 'MISSING'} {r.what}" + ("" if r.ok else f" -> {r.fix}"),
                    soft_wrap=True,
                )
    if not all_ok:
        raise typer.Exit(1)


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
