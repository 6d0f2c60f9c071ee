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
console = Console(stderr=True)
out = Console()


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


def render_report(results: Path) -> None:
    """The markdown and HTML report of `results`, and where they are (after a suite or a campaign)."""
    from harness.report.render import render  # lazy: matplotlib, jinja2 (seconds)

    md, html = render(results)
    out.print(f"report: {md}\n        {html}", soft_wrap=True)


def _docker_probe_once():
    """backends.docker_unavailable, asked at most once per command."""
    return cache(docker_unavailable)
