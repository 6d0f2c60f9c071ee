"""`bench`: the command line. Every failure ends in one line naming the cause and a non-zero exit."""

from __future__ import annotations

import importlib
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import platforms as registry
from harness.cli import doctor as doctor_mod
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted, invalid
from harness.model.paths import RESULTS_DIR
from harness.model.record import load_record
from harness.stack import definition, install
from harness.stack.backends import (
    BACKENDS,
    BackendUnavailable,
    available,
    docker_unavailable,
    resolve,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark workflow orchestrators with measurements: setup, resources, latency, throughput.",
)
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
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _run_one(
    platform: str,
    workload: spec.Workload,
    variant=None,
    backend="auto",
    ports=None,
    hz=5.0,
    keep=False,
    external_config: Path | None = None,
) -> Path:
    from harness.run.driver import RunOptions, run  # lazy: pandas, psutil, samplers (seconds)

    opts = RunOptions(
        platform,
        workload,
        variant=variant,
        backend=backend,
        pinned_ports=ports or {},
        sample_hz=hz,
        keep_run_dir=keep,
        external_config=external_config,
    )
    with _progress() as p:
        return run(opts, _RichProgress(p, f"{platform}/{workload.name}"))


@app.command("run")
def run_cmd(
    platform: str = typer.Argument(..., help="platform name (bench list)"),
    workload: str = typer.Argument(..., help="workload name or path to a YAML file"),
    variant: Optional[str] = typer.Option(None, help="stack variant, e.g. postgres"),
    backend: str = typer.Option(
        "auto", help="auto (compose where a Docker engine answers, else native) | native | compose | external"
    ),
    external_config: Optional[Path] = typer.Option(None, help="external backend: YAML with endpoints: and metrics:"),
    port: list[str] = typer.Option([], help="pin a port: NAME=PORT (repeatable)"),
    repetitions: Optional[int] = typer.Option(None, help="override the workload's measured repetitions"),
    warmup: Optional[int] = typer.Option(None, help="override the workload's warmup repetitions"),
    runs: Optional[int] = typer.Option(None, help="override workflow runs per repetition"),
    duration_s: Optional[float] = typer.Option(None, help="override an idle workload's window (seconds)"),
    sample_hz: float = typer.Option(5.0, help="resource sampling rate"),
    keep_run_dir: bool = typer.Option(False, help="keep the temporary run directory (data, raw logs)"),
):
    """Bring PLATFORM's stack up, run WORKLOAD, write results/PLATFORM/<run-id>/, stop everything."""
    registry.get(platform)
    wl = spec.load(workload)
    overrides = {
        k: v
        for k, v in {"repetitions": repetitions, "warmup": warmup, "runs": runs, "duration_s": duration_s}.items()
        if v is not None
    }
    if overrides:
        try:
            wl = spec.Workload.model_validate({**wl.model_dump(), **overrides})
        except ValidationError as err:
            raise invalid(f"{wl.name} with --{'/--'.join(overrides).replace('_', '-')}", err) from None
    path = _run_one(platform, wl, variant, backend, _ports(port), sample_hz, keep_run_dir, external_config)
    record = load_record(path / "run.json")
    out.print(f"{platform}/{wl.name}: {record.status} -> {path}", soft_wrap=True)
    if record.status != "complete":
        raise BenchError(f"{platform}/{wl.name} {record.status}: {record.error or 'see run.json'}")


@app.command()
def suite(
    platforms: list[str] = typer.Option([], "--platform", help="default: every platform doctor finds runnable"),
    workloads: list[str] = typer.Option([], "--workload", help=f"default: {' '.join(DEFAULT_WORKLOADS)}"),
    variant: Optional[str] = typer.Option(None),
    backend: str = typer.Option("auto", help="auto | native | compose | external"),
):
    """Run the default benchmark: each workload on each runnable platform, then the report."""
    orchestrators, engine = registry.orchestrators(), _docker_probe_once()
    chosen = platforms or [p for p in orchestrators if doctor_mod.runnable(p, backend, engine)]
    if backend == "external" and not platforms:
        raise BenchError("the external backend runs one deployment: name it with --platform")
    for name in platforms:
        registry.get(name)
    loaded = [spec.load(w) for w in (workloads or DEFAULT_WORKLOADS)]
    skipped = [p for p in orchestrators if p not in chosen]
    if skipped and not platforms:  # left out by --platform is not "not runnable"
        console.print(f"not runnable here (see `bench doctor`): {', '.join(skipped)}")
    failures = []
    for platform in chosen:
        for wl in loaded:
            try:
                path = _run_one(platform, wl, variant, backend)
                status = load_record(path / "run.json").status
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


@app.command()
def faults(
    platforms: list[str] = typer.Option([], "--platform", help="default: every platform that runs natively here"),
    workloads: list[str] = typer.Option([], "--workload", help="default: every workload with a fault block"),
    skip_done: bool = typer.Option(False, help="leave out cells that already have a complete run"),
    dry_run: bool = typer.Option(False, help="print the plan, run nothing"),
):
    """Every fault workload on every native platform (the stack variant that has the targeted service),
    then the fault table."""
    from harness.campaign import faults as fc  # lazy: the driver and the report (seconds)

    for name in platforms:
        registry.get(name)
    chosen = platforms or [p for p in registry.orchestrators() if doctor_mod.runnable(p, "native")]
    cells = fc.plan(chosen, fc.fault_workloads(workloads))
    say = lambda line: out.print(line, soft_wrap=True, markup=False, highlight=False)  # noqa: E731
    failures = fc.run_cells(
        cells,
        lambda c: _run_one(c.platform, spec.load(c.workload), c.variant, "native"),
        say,
        RESULTS_DIR,
        skip_done,
        dry_run,
    )
    if dry_run:
        return
    _report(RESULTS_DIR)
    # piped to a file or CI log, rich would fold the table into 80 columns
    out.print(fc.table(fc.table_rows(RESULTS_DIR)), width=None if out.is_terminal else 200)
    if failures:
        raise BenchError(f"{len(failures)} fault cell(s) did not complete: {', '.join(failures)}")


def _report(results: Path) -> None:
    from harness.report.render import render  # lazy: matplotlib, jinja2 (seconds)

    md, html = render(results)
    out.print(f"report: {md}\n        {html}", soft_wrap=True)


@app.command()
def compare(
    old: Path = typer.Argument(..., help="results folder or run folder (A)"),
    new: Path = typer.Argument(..., help="results folder or run folder (B)"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML page here"),
    fail_on_regression: Optional[float] = typer.Option(
        None, metavar="PCT", help="exit 3 when a significant regression exceeds PCT %"
    ),
):
    """Compare two result sets: per platform, workload and metric, old vs new, significance, machines, verdicts."""
    from harness.report import compare as compare_mod  # lazy: pandas, scipy (seconds)
    from harness.report import compare_render  # lazy: markdown, jinja2

    comparison = compare_mod.compare_paths(old, new)
    typer.echo(compare_render.render_markdown(comparison), nl=False)  # verbatim markdown, never restyled
    if html is not None:
        console.print(f"html: {compare_render.write_html(comparison, html)}", markup=False, emoji=False, soft_wrap=True)
    line = comparison.gate(fail_on_regression) if fail_on_regression is not None else None
    if line:
        console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        raise typer.Exit(3)


@app.command("claims")
def claims_cmd(
    results: Path = typer.Option(RESULTS_DIR, help="results folder to read"),
    fmt: str = typer.Option("table", "--format", help="table | markdown | json"),
    claims_file: Optional[Path] = typer.Option(None, "--claims-file", help="default: claims/claims.yaml"),
):
    """Every claim of the seed document with its verdict against the results (exit 1 if one could not be evaluated)."""
    from harness.claims import table  # lazy: pandas, the claims (seconds)

    verdicts = table.results_for(results, claims_file)
    table.show(verdicts, fmt, out)
    failed = table.errors(verdicts)
    if failed:
        raise failed


@app.command()
def report(results: Path = typer.Option(RESULTS_DIR, help="results folder to read")):
    """Render the latest run of each platform and workload into markdown and HTML."""
    _report(results)


@app.command("install")
def install_cmd(platforms: list[str] = typer.Argument(None, help="default: every registered platform with a stack")):
    """Obtain each platform's artifacts (Python environment, Go binaries) into the cache, timed."""
    names = platforms or [p for p in registry.orchestrators() if registry.get(p).has_native]
    for name in names:
        if not registry.get(name).has_native:
            raise BenchError(f"{name} has nothing to install natively (compose stacks pull images at run time)")
        with _progress() as p:
            p.add_task(f"installing {name}", total=None)
            t = time.monotonic()
            done = install.platform(definition.load(name))
        took = time.monotonic() - t
        out.print(
            f"{name}: {'cached' if done.cached else 'installed'} in {took:.1f}s "
            f"({done.footprint_bytes / 2**20:.0f} MB; {', '.join(f'{k} {v}' for k, v in done.versions.items())})",
            soft_wrap=True,
        )


def _docker_probe_once():
    """backends.docker_unavailable, asked at most once per command."""
    return cache(docker_unavailable)


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


def _reap_orphans() -> None:
    """What a harness killed outright left running (see harness/run/ledger.py), stopped with one line each."""
    from harness.run.ledger import reap_orphans  # lazy: pandas via the store (seconds)

    try:
        for line in reap_orphans():
            console.print(f"[yellow]cleaned up:[/yellow] {escape(line)}", soft_wrap=True)
    except OSError as err:
        console.print(f"[yellow]could not look for runs left by a killed harness:[/yellow] {escape(str(err))}")


def _click_errors() -> tuple[tuple[type, ...], type | None]:
    """click's exception base and its no-arguments help: typer >= 0.2x vendors click as
    typer._click (whose classes click's own `except` clauses do not match); older typer uses click."""
    bases: list[type] = []
    help_error = None
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        bases.append(mod.ClickException)
        help_error = help_error or getattr(mod, "NoArgsIsHelpError", None)
    return tuple(bases), help_error


def _usage_error(err: Exception, help_error: type | None) -> int:
    """A click usage error (unknown command, option of the wrong type, missing argument) in one line."""
    if help_error is not None and isinstance(err, help_error):
        err.show()  # `bench` or `bench run` alone: the help text is what was asked for
        return err.exit_code
    ctx = getattr(err, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    message = " ".join(err.format_message().split())  # click wraps long messages over lines
    console.print(f"[red]error:[/red] {escape(message + hint)}", soft_wrap=True, highlight=False)
    return err.exit_code  # 2 for usage errors, as click itself exits


def main() -> None:
    click_errors, help_error = _click_errors()
    _reap_orphans()
    try:
        code = app(standalone_mode=False, prog_name="bench")  # click returns, not raises, typer.Exit codes here
        if isinstance(code, int) and code:
            sys.exit(code)
    except RunInterrupted as err:
        console.print(f"[yellow]interrupted:[/yellow] {escape(str(err))}", soft_wrap=True)
        sys.exit(130)
    except BenchError as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", soft_wrap=True)  # a message may hold [brackets]
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):  # typer.Abort: click's form of Ctrl-C (and of EOF at a prompt)
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except click_errors as err:
        sys.exit(_usage_error(err, help_error))
    except Exception as err:  # a bug of ours: still one line; BENCH_DEBUG=1 shows the traceback
        if os.environ.get("BENCH_DEBUG"):
            raise
        lines = str(err).strip().splitlines()
        console.print(
            f"[red]internal error:[/red] {escape(type(err).__name__)}: {escape(lines[0] if lines else '')} "
            "(set BENCH_DEBUG=1 for the traceback)",
            soft_wrap=True,
        )
        sys.exit(1)
