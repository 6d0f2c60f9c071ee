"""The CI gate's command: `python -m harness.tools.claims_gate COMMITTED REMEASURED` (.ci/reproduce-claims
runs it on results/ and its scratch folder). harness/report/gate.py decides; this prints and exits:
0 when no committed verdict flips and no figure moves significantly beyond the tolerance (one summary
line), 1 when one does (a line per claim or figure: old, new, change, p-value), 2 when a folder is
missing or holds no complete run, or an option is wrong (one line, no traceback).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from harness.model.errors import BenchError
from harness.report.gate import (
    DEFAULT_FLOOR_MS,
    DEFAULT_TOLERANCE_PCT,
    FLOOR_ENV,
    TOLERANCE_ENV,
    check,
    report_lines,
)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
out = Console(soft_wrap=True, highlight=False, markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False, emoji=False)


def number_from(option: Optional[float], env: str, default: float, suffix: str) -> float:
    """The option, else the environment variable ("50" or "50%" for a percentage), else the default."""
    if option is not None:
        return option
    raw = os.environ.get(env, "").strip().removesuffix(suffix)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BenchError(f"{env}={raw!r}: not a number (e.g. {default:g})") from None


@app.command()
def gate(
    committed: Path = typer.Argument(..., help="the committed results folder (results/)"),
    remeasured: Path = typer.Argument(..., help="the re-measured results folder"),
    tolerance: Optional[float] = typer.Option(
        None,
        metavar="PCT",
        help=f"relative change a significant move must exceed, in % (default ${TOLERANCE_ENV} or "
        f"{DEFAULT_TOLERANCE_PCT:g})",
    ),
    floor_ms: Optional[float] = typer.Option(
        None,
        "--floor-ms",
        help=f"a time must also move by this many ms (default ${FLOOR_ENV} or {DEFAULT_FLOOR_MS:g})",
    ),
    verbose: bool = typer.Option(False, "--verbose", help="also every decided claim and every move within tolerance"),
):
    """Fail when a committed verdict flips or a re-measured figure moves significantly beyond the tolerance."""
    try:
        tol = number_from(tolerance, TOLERANCE_ENV, DEFAULT_TOLERANCE_PCT, "%")
        result = check(committed, remeasured, tol, number_from(floor_ms, FLOOR_ENV, DEFAULT_FLOOR_MS, "ms"))
    except BenchError as e:
        err.print(f"claims gate: {e}")
        raise typer.Exit(2) from None
    for line in report_lines(result, verbose):
        out.print(line)
    raise typer.Exit(1 if result.failed else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
