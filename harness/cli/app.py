"""`bench`: the command line. Every failure ends in one line naming the cause and a non-zero exit."""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.markup import escape

from harness import platforms as registry
from harness.cli import claims_cache, claims_view
from harness.cli import doctor as doctor_mod
from harness.cli.claims_view import Format
from harness.cli.common import (
    _docker_probe_once,
    _ports,
    _progress,
    _RichProgress,
    app,
    console,
    out,
    results_folder,
)
from harness.cli.common import render_report as _report
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted, invalid
from harness.model.paths import RESULTS_DIR, STATE_DIR
from harness.model.record import load_record

DEFAULT_WORKLOADS = ["idle-60s", "latency-probe", "chain-40x-fib10", "chain-10x-fib33", "fanout-100-noop"]


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

    for side in (old, new):
        if not (side / "run.json").is_file():
            results_folder(side)  # worded as every command words a path that is not a results folder
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
    claim_ids: list[str] = typer.Argument(None, metavar="CLAIM", help="show these claims in full"),
    results: Path = typer.Option(RESULTS_DIR, help="results folder to read"),
    fmt: Format = typer.Option(Format.table, "--format", help="table: for a terminal; markdown; json: every field"),
    long: bool = typer.Option(False, "--long", help="table: every claim in full (evidence, conditions, runs)"),
    claims_file: Optional[Path] = typer.Option(None, "--claims-file", help="default: claims/claims.yaml"),
    cache: bool = typer.Option(
        True, help="reuse the verdicts while results/, the claims and the harness are unchanged"
    ),
):
    """Every claim of the seed document with its verdict against the results, the counts first
    (exit 1 if a claim could not be evaluated)."""
    results_folder(results)
    doc, _ = claims_cache.verdicts(results, claims_file, use_cache=cache)
    unknown = [c for c in claim_ids or [] if c not in {r.id for r in doc.claims}]
    if unknown:
        near = difflib.get_close_matches(unknown[0], [r.id for r in doc.claims], n=3)
        raise BenchError(f"unknown claim {unknown[0]!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))
    if claim_ids and fmt is Format.table:
        claims_view.show_some(doc, claim_ids, out)
    else:
        shown = doc.model_copy(update={"claims": [r for r in doc.claims if r.id in claim_ids]}) if claim_ids else doc
        claims_view.show(shown, fmt, out, long)
    if doc.error:
        raise BenchError(doc.error)


@app.command()
def report(results: Path = typer.Option(RESULTS_DIR, help="results folder to read")):
    """Render the latest run of each platform and workload into markdown and HTML."""
    _report(results_folder(results))


# evidence, then install, list, doctor, up, down: imported here, after the commands above, so `bench --help`
# lists them after those
from harness.cli import evidence, stacks  # noqa: E402, F401

# harness.run.ledger's STATE_DIR/LEDGER_DIR_NAME, named here: importing the ledger costs seconds (pandas
# via the store), and every command would pay them even with no ledger to look at (the common case)
LEDGERS = STATE_DIR / "runs"


def _reap_orphans() -> None:
    """What a harness killed outright left running (see harness/run/ledger.py), stopped with one line each."""
    if not any(LEDGERS.glob("*.json")):
        return
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
    except BrokenPipeError:
        raise  # a closed pipe is not a bug of ours: harness/cli/entry.py ends quietly
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
