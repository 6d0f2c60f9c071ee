"""What `bench claims` shows, from a ClaimsDoc: the verdicts as data (harness/claims/table.py builds it,
harness/cli/claims_cache.py keeps it), rendered without importing the claims (pandas, seconds), so a
cached answer prints at once. Every view fits the console's width: long cells fold, never truncate."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

STYLE = {
    "supported": "green",
    "contradicted": "red",
    "inconclusive": "yellow",
    "not measured": "dim",
    "error": "bold red",
}


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


class ClaimRow(BaseModel):
    """One claim as harness.claims.ClaimResult dumps it (the same fields, in its order; a field added
    there is kept as an extra), and `brief`, its n and interval in words."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    platform: str
    platforms: list[str]
    section: str
    quote: str
    kind: str
    measurable: bool
    verdict: str
    evidence: dict[str, Any]  # harness.claims.evidence.Evidence, dumped
    conditions: str = ""
    runs: list[str] = []
    machines: list[str] = []
    missing: str = ""
    brief: str = ""

    @property
    def text(self) -> str:
        return self.evidence.get("text") or ""

    @property
    def decides(self) -> str:
        return self.evidence.get("decides") or ""

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude={"brief"})


class ClaimsDoc(BaseModel):
    """Every verdict over one results folder, and what the views print about them as a whole."""

    counts: dict[str, Any]  # harness.claims.Counts, as `--format json` prints it
    summary: str  # Counts.line()
    error: str | None = None  # the first claim that could not be evaluated, in one line
    claims: list[ClaimRow]


def show(doc: ClaimsDoc, fmt: Format, out: Console, long: bool = False) -> None:
    if fmt is Format.json:
        out.print_json(json.dumps({"counts": doc.counts, "claims": [r.as_json() for r in doc.claims]}))
    elif fmt is Format.markdown:
        out.print(markdown(doc), markup=False, highlight=False, soft_wrap=True)
    elif long:
        out.print(doc.summary, highlight=False)
        for row in doc.claims:
            if row.measurable:
                out.print()
                out.print(_block(row))
        for line in _unmeasurable_lines(doc.claims):
            out.print(line, markup=False, highlight=False)
    else:
        out.print(doc.summary, highlight=False)
        out.print(_compact(doc.claims, out.width))
        for line in _compact_footer(doc.claims):
            out.print(line, markup=False, highlight=False)


def show_some(doc: ClaimsDoc, ids: list[str], out: Console) -> None:
    """The claims named, each in full (a not measurable one with its reason)."""
    by_id = {r.id: r for r in doc.claims}
    for n, claim_id in enumerate(ids):
        if n:
            out.print()
        out.print(_block(by_id[claim_id]))


def _verdict(row: ClaimRow) -> Text:
    return Text(row.verdict, style=STYLE.get(row.verdict, ""), overflow="fold")  # a Text keeps its own overflow


def _compact(rows: list[ClaimRow], width: int) -> Table:
    """The measurable claims, one row each: id, platform, verdict with its n and interval."""
    measurable = [r for r in rows if r.measurable]
    id_w = max((len(r.id) for r in measurable), default=5)
    verdict_w = max((len(r.brief) for r in measurable), default=12)
    # ids and intervals whole where the width leaves the platforms 12 columns; else every column folds
    whole = id_w + verdict_w + 6 + 12 <= width
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="measurable claims", title_justify="left")
    table.add_column("claim", overflow="fold", min_width=id_w if whole else None)
    table.add_column("platform", overflow="fold")
    table.add_column("verdict", overflow="fold", min_width=verdict_w if whole else None)
    for r in measurable:
        verdict = _verdict(r)  # a Group of lines: rich loses characters wrapping a Text with a newline in it
        table.add_row(r.id, r.platform, Group(verdict, Text(r.brief, overflow="fold")) if r.brief else verdict)
    return table


def _compact_footer(rows: list[ClaimRow]) -> list[str]:
    reasons = {r.text for r in rows if not r.measurable}
    unmeasurable = sum(1 for r in rows if not r.measurable)
    lines = [
        "",
        "Evidence, conditions and what would measure the rest: `bench claims --long` (one claim: `bench claims ID`).",
    ]
    if unmeasurable:
        lines.append(
            f"{unmeasurable} claims are not measurable ({len(reasons)} reasons): `bench claims --long` lists them."
        )
    return lines


def _block(row: ClaimRow) -> Group:
    """One claim in full: a heading line, then a label column and a folding text column."""
    head = Text(row.id, style="bold")
    head.append(f"  {row.platform}  ")
    head.append_text(_verdict(row) if row.measurable else Text("not measurable", style="dim"))
    if row.brief:
        head.append(f"  {row.brief}")
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    fields = {
        "claim": row.quote,
        "evidence" if row.measurable else "why not": row.text,
        "decides": row.decides,
        "conditions": row.conditions,
        "missing": row.missing,
        "runs": ", ".join(row.runs),
        "machines": "; ".join(row.machines),
    }
    for label, value in fields.items():
        if value:
            grid.add_row(f"  {label}", Text(value, overflow="fold"))
    return Group(head, grid)


def _unmeasurable_lines(rows: list[ClaimRow]) -> list[str]:
    """Not measurable claims grouped by their reason: one paragraph per reason, naming the claims."""
    by_reason: dict[str, list[str]] = {}
    for r in rows:
        if not r.measurable:
            by_reason.setdefault(r.text, []).append(r.id)
    lines = [f"\nnot measurable ({sum(len(v) for v in by_reason.values())} claims):"] if by_reason else []
    for reason, ids in by_reason.items():
        lines.append(f"- {reason} ({len(ids)}): {', '.join(ids)}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(doc: ClaimsDoc) -> str:
    lines = [
        f"{doc.summary}.",
        "",
        "| claim | platform | verdict | evidence | conditions | runs | missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc.claims:
        if r.measurable:
            brief = f" {_cell(r.brief)}" if r.brief else ""
            decides = f"; would decide it: {r.decides}" if r.decides else ""
            lines.append(
                f"| {_cell(r.quote)} ({r.id}) | {r.platform} | **{r.verdict}**{brief} | "
                f"{_cell(r.text)}{_cell(decides)} | "
                f"{_cell(r.conditions)} | {_cell(', '.join(r.runs))} | {_cell(r.missing)} |"
            )
    lines += ["", "Not measurable:", "", "| claim | platform | section | reason |", "|---|---|---|---|"]
    for r in doc.claims:
        if not r.measurable:
            lines.append(f"| {_cell(r.quote)} ({r.id}) | {r.platform} | {_cell(r.section)} | {_cell(r.text)} |")
    return "\n".join(lines)
