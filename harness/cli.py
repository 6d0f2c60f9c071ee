"""`bench`: the command line. Every failure ends in one line naming the cause and a non-zero exit."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import doctor as doctor_mod
from . import spec
from .errors import BenchError, RunInterrupted
from .paths import RESULTS_DIR, STATE_DIR
from .platforms import NOT_NATIVE, ORCHESTRATORS, REGISTRY, adapter_class

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark workflow orchestrators with measurements: setup, resources, latency, throughput.")
console = Console(stderr=True)
out = Console()

DEFAULT_WORKLOADS = ["idle-60s", "latency-probe", "chain-40x-fib10", "chain-10x-fib33", "fanout-100-noop"]


def _ports(values: list[str]) -> dict[str, int]:
    pinned = {}
    for item in values:
        name, _, port = item.partition("=")
        if not port.isdigit():
            raise BenchError(f"--port takes NAME=PORT (e.g. server=4200), got {item!r}")
        pinned[name] = int(port)
    return pinned


class _RichProgress:
    def __init__(self, progress: Progress, label: str):
        self.p, self.label, self.task = progress, label, None

    def __call__(self, event: str, **kw) -> None:
        if event == "phase":
            if self.task is not None:
                self.p.remove_task(self.task)
            desc = f"{self.label} {kw['name']}" + (f" ({kw['detail']})" if kw.get("detail") else "")
            self.task = self.p.add_task(desc, total=kw.get("total"))
        elif event == "advance" and self.task is not None:
            self.p.advance(self.task, kw.get("amount", 1))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=True)


def _run_one(platform: str, workload: spec.Workload, variant=None, backend="auto", ports=None, hz=5.0,
             keep=False, external_config: Path | None = None) -> Path:
    from .driver import RunOptions, run
    opts = RunOptions(platform, workload, variant=variant, backend=backend, pinned_ports=ports or {}, sample_hz=hz,
                      keep_run_dir=keep, external_config=external_config)
    with _progress() as p:
        return run(opts, _RichProgress(p, f"{platform}/{workload.name}"))


@app.command("run")
def run_cmd(platform: str = typer.Argument(..., help="platform name (bench list)"),
            workload: str = typer.Argument(..., help="workload name or path to a YAML file"),
            variant: Optional[str] = typer.Option(None, help="stack variant, e.g. postgres"),
            backend: str = typer.Option("auto", help="auto (compose where a Docker engine answers, else native) | native | compose | external"),
            external_config: Optional[Path] = typer.Option(None, help="external backend: YAML with endpoints: and metrics:"),
            port: list[str] = typer.Option([], help="pin a port: NAME=PORT (repeatable)"),
            repetitions: Optional[int] = typer.Option(None, help="override the workload's measured repetitions"),
            warmup: Optional[int] = typer.Option(None, help="override the workload's warmup repetitions"),
            runs: Optional[int] = typer.Option(None, help="override workflow runs per repetition"),
            sample_hz: float = typer.Option(5.0, help="resource sampling rate"),
            keep_run_dir: bool = typer.Option(False, help="keep the temporary run directory (data, raw logs)")):
    """Bring PLATFORM's stack up, run WORKLOAD, write results/PLATFORM/<run-id>/, stop everything."""
    adapter_class(platform)
    wl = spec.load(workload)
    overrides = {k: v for k, v in {"repetitions": repetitions, "warmup": warmup, "runs": runs}.items() if v is not None}
    if overrides:
        wl = spec.Workload.model_validate({**wl.model_dump(), **overrides})
    path = _run_one(platform, wl, variant, backend, _ports(port), sample_hz, keep_run_dir, external_config)
    doc = json.loads((path / "run.json").read_text())
    out.print(f"{platform}/{wl.name}: {doc['status']} -> {path}", soft_wrap=True)
    if doc["status"] != "complete":
        raise BenchError(f"{platform}/{wl.name} {doc['status']}: {doc.get('error', 'see run.json')}")


@app.command()
def suite(platforms: list[str] = typer.Option([], "--platform", help="default: every platform doctor finds runnable"),
          workloads: list[str] = typer.Option([], "--workload", help=f"default: {' '.join(DEFAULT_WORKLOADS)}"),
          variant: Optional[str] = typer.Option(None),
          backend: str = typer.Option("auto", help="auto | native | compose | external")):
    """Run the default benchmark: each workload on each runnable platform, then the report."""
    chosen = platforms or [p for p in ORCHESTRATORS if doctor_mod.runnable(p, backend)]
    if backend == "external" and not platforms:
        raise BenchError("the external backend runs one deployment: name it with --platform")
    for name in platforms:
        adapter_class(name)
    loaded = [spec.load(w) for w in (workloads or DEFAULT_WORKLOADS)]
    skipped = [p for p in ORCHESTRATORS if p not in chosen]
    if skipped:
        console.print(f"not runnable here (see `bench doctor`): {', '.join(skipped)}")
    failures = []
    for platform in chosen:
        for wl in loaded:
            try:
                path = _run_one(platform, wl, variant, backend)
                status = json.loads((path / "run.json").read_text())["status"]
                out.print(f"{platform}/{wl.name}: {status} -> {path}", soft_wrap=True)
                if status != "complete":
                    failures.append(f"{platform}/{wl.name}")
            except RunInterrupted:
                raise
            except BenchError as err:
                console.print(f"[red]{platform}/{wl.name} failed:[/red] {err}", soft_wrap=True)
                failures.append(f"{platform}/{wl.name}")
    _report(RESULTS_DIR)
    if failures:
        raise BenchError(f"{len(failures)} cell(s) failed: {', '.join(failures)}")


def _report(results: Path) -> None:
    from .report import render
    md, html = render(results)
    out.print(f"report: {md}\n        {html}", soft_wrap=True)


@app.command()
def report(results: Path = typer.Option(RESULTS_DIR, help="results folder to read")):
    """Render the latest run of each platform and workload into markdown and HTML."""
    _report(results)


@app.command("install")
def install_cmd(platforms: list[str] = typer.Argument(None, help="default: every registered platform with a stack")):
    """Obtain each platform's artifacts (Python environment, Go binaries) into the cache, timed."""
    import time

    from . import install
    from .stack import definition
    from .backends import has_native
    names = platforms or [p for p in ORCHESTRATORS if has_native(adapter_class(p).stack)]
    for name in names:
        cls = adapter_class(name)
        if not has_native(cls.stack):
            raise BenchError(f"{name} has nothing to install natively (compose stacks pull images at run time)")
        with _progress() as p:
            p.add_task(f"installing {name}", total=None)
            t = time.monotonic()
            done = install.platform(definition.load(cls.stack))
        took = time.monotonic() - t
        out.print(f"{name}: {'cached' if done.cached else 'installed'} in {took:.1f}s "
                  f"({done.footprint_bytes / 2**20:.0f} MB; {', '.join(f'{k} {v}' for k, v in done.versions.items())})",
                  soft_wrap=True)


@app.command("list")
def list_cmd():
    """Platforms, workloads and backends."""
    table = Table("platform", "stack variants", "runs here", title="platforms")
    for name in REGISTRY:
        cls = adapter_class(name)
        variants = "in-process"
        from .backends import has_native
        if cls.stack and not has_native(cls.stack):
            variants = "compose only"
        elif cls.stack:
            from .stack import definition
            d = definition.load(cls.stack)
            variants = ", ".join(f"{v}{' (default)' if d.variants[v].default else ''}" for v in d.variants)
        table.add_row(name, variants, "yes" if doctor_mod.runnable(name) else "no")
    for name, why in NOT_NATIVE.items():
        if name not in REGISTRY:
            table.add_row(name, "–", f"no: {why}")
    out.print(table)
    table = Table("workload", "shape", "tasks x runs", "warmup+reps", "description", title="workloads")
    for name in spec.available():
        w = spec.load(name)
        size = f"{w.duration_s:.0f}s" if w.shape == "idle" else f"{w.tasks} x {w.runs}"
        table.add_row(name, w.shape, size, f"{w.warmup}+{w.repetitions}", w.description)
    out.print(table)
    from .backends import BACKENDS
    from .stack.compose import engine_answers
    no_engine = engine_answers()
    table = Table("backend", "what", "here", title="backends")
    for name, what in BACKENDS.items():
        here = "yes"
        if name in ("compose", "auto"):
            here = ("yes" if no_engine is None else f"no: {no_engine}") if name == "compose" else \
                ("compose" if no_engine is None else "native")
        table.add_row(name, what, here)
    out.print(table)


@app.command()
def doctor():
    """Which platforms can run on this machine, by which backend; for the others, what is missing."""
    from .backends import has_compose, has_native
    all_ok = True
    for name in ORCHESTRATORS:
        cls = adapter_class(name)
        checked = {b: doctor_mod.check(name, b) for b in ("native", "compose")
                   if b == "native" and (has_native(cls.stack) or not cls.stack) or b == "compose" and has_compose(cls.stack)}
        ok_by = [b for b, reqs in checked.items() if all(r.ok for r in reqs)]
        all_ok &= bool(ok_by)
        if ok_by:
            out.print(f"[bold]{name}[/bold]: [green]runnable[/green] ({', '.join(ok_by)})")
        else:
            missing = [f"{b}: {r.fix or r.what}" for b, reqs in checked.items() for r in reqs if not r.ok]
            why = NOT_NATIVE.get(name)
            out.print(f"[bold]{name}[/bold]: [red]not runnable here[/red]: " + "; ".join(([why] if why else []) + missing),
                      soft_wrap=True)
        for backend, reqs in checked.items():
            for r in reqs:
                out.print(f"  {backend:8} {'ok     ' if r.ok else 'MISSING'} {r.what}" + ("" if r.ok else f" -> {r.fix}"),
                          soft_wrap=True)
    for name, why in NOT_NATIVE.items():
        if name not in REGISTRY:
            all_ok = False
            out.print(f"[bold]{name}[/bold]: [red]not runnable here[/red]: {why}", soft_wrap=True)
    if not all_ok:
        raise typer.Exit(1)


def _state_file(platform: str) -> Path:
    return STATE_DIR / f"{platform}.json"


@app.command()
def up(platform: str, variant: Optional[str] = typer.Option(None),
       port: list[str] = typer.Option([], help="pin a port: NAME=PORT (repeatable)")):
    """Start PLATFORM's stack in the background on 127.0.0.1 (stop it with `bench down`)."""
    from . import install
    from .results import new_run_id
    from .stack import definition
    from .stack.native import NativeStack
    from .backends import has_native
    cls = adapter_class(platform)
    if not has_native(cls.stack):
        raise BenchError(f"`bench up` starts native stacks and {platform} has none; "
                         f"`bench run {platform} … --backend compose` runs its compose stack")
    state = _state_file(platform)
    if state.exists():
        raise BenchError(f"{platform} is already up (state in {state}); run `bench down {platform}` first")
    from .driver import start_stack
    from .results import Redactor
    d = definition.load(cls.stack)
    installed = install.platform(d)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-up-{platform}-"))
    ctx = definition.RenderContext(new_run_id("up"), run_dir, installed.bin_dir, _ports(port), go_bin=installed.go_bin)
    rendered = definition.render(d, variant or d.default_variant(), ctx)
    stack = NativeStack(run_dir, attached=False)
    try:
        with _progress() as p:
            start_stack(stack, rendered, Redactor(), _RichProgress(p, platform))
    except BaseException:
        stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"run_dir": str(run_dir), "pids": [r.pid for r in stack.services],
                                 "endpoints": rendered.endpoints()}))
    os.chmod(state, 0o600)  # endpoints may carry per-run credentials
    for key, value in rendered.endpoints().items():
        out.print(f"{key}: {value}")
    out.print(f"logs: {stack.log_dir}")


@app.command()
def down(platform: str):
    """Stop a stack started with `bench up` and remove its run directory."""
    from .stack.native import stop_tree
    adapter_class(platform)
    state = _state_file(platform)
    if not state.exists():
        raise BenchError(f"{platform} is not up (no {state})")
    doc = json.loads(state.read_text())
    for pid in reversed(doc["pids"]):
        stop_tree(pid)
    shutil.rmtree(doc["run_dir"], ignore_errors=True)
    state.unlink()
    out.print(f"{platform}: stopped")


def main() -> None:
    try:
        code = app(standalone_mode=False)  # click returns, not raises, typer.Exit codes in this mode
        if isinstance(code, int) and code:
            sys.exit(code)
    except RunInterrupted as err:
        console.print(f"[yellow]interrupted:[/yellow] {err}", soft_wrap=True)
        sys.exit(130)
    except BenchError as err:
        console.print(f"[red]error:[/red] {err}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except Exception as err:  # click usage errors and the like
        import click
        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):  # click's form of Ctrl-C
            console.print("[yellow]interrupted[/yellow]")
            sys.exit(130)
        raise
