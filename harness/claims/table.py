"""`bench claims`: every claim evaluated against a results folder, as a rich table, markdown or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.claims import ClaimResult, counts, evaluate, load
from harness.model.errors import BenchError
from harness.store.cells import claim_cells, claim_series, collect

FORMATS = ("table", "markdown", "json")
STYLE = {
    "supported": "green",
    "contradicted": "red",
    "inconclusive": "yellow",
    "not measured": "dim",
    "error": "bold red",
}


def results_for(results: Path, claims_file: Path | None = None) -> list[ClaimResult]:
    """Every claim's verdict over the latest complete run per (platform, workload) in `results`, the
    default stack variant first, as the report chooses them; runs that did not complete are named."""
    parsed = load(claims_file)  # a broken claims file fails before the results are read
    if not results.is_dir():
        raise BenchError(f"{results}: no such results folder")
    cells, incomplete = collect(results)
    return evaluate(claim_cells(cells), incomplete, parsed, claim_series(cells))


def show(results: list[ClaimResult], fmt: str, out: Console) -> None:
    if fmt not in FORMATS:
        raise BenchError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "json":
        doc = {"counts": counts(results).__dict__, "claims": [r.model_dump() for r in results]}
        out.print_json(json.dumps(doc))
    elif fmt == "markdown":
        out.print(markdown(results), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(_rich(results))
        for line in _unmeasurable_lines(results):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        out.print(counts(results).line(), soft_wrap=True)


def errors(results: list[ClaimResult]) -> BenchError | None:
    """One line naming the first claim that could not be evaluated (and how many more)."""
    failed = [r for r in results if r.verdict == "error"]
    if not failed:
        return None
    more = f" (and {len(failed) - 1} more claims)" if len(failed) > 1 else ""
    return BenchError(f"claim {failed[0].id} could not be evaluated: {failed[0].evidence.text}{more}")


def _rich(results: list[ClaimResult]) -> Table:
    table = Table(
        "claim",
        "platform",
        "verdict",
        "evidence",
        "conditions / missing",
        title="claims of the seed document",
        show_lines=True,
    )
    for r in results:
        if r.measurable:
            style = STYLE.get(r.verdict, "")
            table.add_row(
                f"{r.id}\n[dim]{r.quote}[/dim]",
                r.platform,
                f"[{style}]{r.verdict}[/{style}]" + (f"\n{_plain(r.evidence.brief())}" if r.evidence.brief() else ""),
                _plain(r.evidence.text + (f"; decides: {r.evidence.decides}" if r.evidence.decides else "")),
                _plain("; ".join(filter(None, [r.conditions, r.missing]))),
            )
    return table


def _plain(text: str) -> str:
    return text.replace("[", "\\[")  # rich markup: evidence may hold [min-max] ranges


def _unmeasurable_lines(results: list[ClaimResult]) -> list[str]:
    """Not measurable claims grouped by their reason: one paragraph per reason, naming the claims."""
    by_reason: dict[str, list[str]] = {}
    for r in results:
        if not r.measurable:
            by_reason.setdefault(r.evidence.text, []).append(r.id)
    lines = [f"\nnot measurable ({sum(len(v) for v in by_reason.values())} claims):"] if by_reason else []
    for reason, ids in by_reason.items():
        lines.append(f"- {reason} ({len(ids)}): {', '.join(ids)}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[ClaimResult]) -> str:
    c = counts(results)
    lines = [
        f"{c.line()}.",
        "",
        "| claim | platform | verdict | evidence | conditions | runs | missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.measurable:
            lines.append(
                f"| {_cell(r.quote)} ({r.id}) | {r.platform} | **{r.verdict}**{_brief(r)} | "
                f"{_cell(r.evidence.text)}{_cell(_decides(r))} | "
                f"{_cell(r.conditions)} | {_cell(', '.join(r.runs))} | {_cell(r.missing)} |"
            )
    lines += ["", "Not measurable:", "", "| claim | platform | section | reason |", "|---|---|---|---|"]
    for r in results:
        if not r.measurable:
            lines.append(
                f"| {_cell(r.quote)} ({r.id}) | {r.platform} | {_cell(r.section)} | {_cell(r.evidence.text)} |"
            )
    return "\n".join(lines)


def _decides(r: ClaimResult) -> str:
    return f"; would decide it: {r.evidence.decides}" if r.evidence.decides else ""


def _brief(r: ClaimResult) -> str:
    brief = r.evidence.brief()
    return f" {_cell(brief)}" if brief else ""
