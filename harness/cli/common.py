"""What the `bench` commands share: the typer app they register on, the consoles, progress bars and
option parsing. harness/cli/app.py, stacks.py and evidence.py import it (never each other's)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.model.errors import BenchError
from harness.stack.backends import docker_unavailable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark workflow orchestrators with measurements: setup, resources, latency, throughput.",
)


class _Out(Console):
    """stdout, where a closed pipe ends the command as its reader wanted (`bench list | head`): exit 0,
    where rich's default exits 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # harness/cli/entry.py points stdout at /dev/null and exits 0


console = Console(stderr=True)
out = _Out()


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


def results_folder(path: Path) -> Path:
    """`path` if it is a results folder (<platform>/<run-id>/run.json below it, or nothing yet), else one
    line saying what it is instead: every command words each of these the same way."""
    if not path.exists():
        raise BenchError(f"{path}: no such results folder")
    if not path.is_dir():
        raise BenchError(f"{path}: not a results folder (a file)")
    if (path / "run.json").is_file():
        raise BenchError(f"{path}: not a results folder but one run's folder (results/<platform>/<run-id>/)")
    if next(path.glob("*/run.json"), None) is not None:
        raise BenchError(
            f"{path}: not a results folder but one platform's runs; a results folder holds "
            f"<platform>/<run-id>/run.json (here: {path.parent})"
        )
    return path


def render_report(results: Path) -> None:
    """The markdown and HTML report of `results`, and where they are (after a suite or a campaign)."""
    from harness.report.render import render  # lazy: matplotlib, jinja2 (seconds)

    md, html = render(results)
    out.print(f"report: {md}\n        {html}", soft_wrap=True)


def _docker_probe_once():
    """backends.docker_unavailable, asked at most once per command."""
    return cache(docker_unavailable)
