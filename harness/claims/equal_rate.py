"""A sweep figure compared at matched conditions: besides each platform at its own highest sustained
step, every compared platform at one offered rate, the highest that all of them sustained in every
one of their runs. CPU per task falls as the rate rises (fixed costs shared by more tasks), so a
platform that sustains a higher rate looks more efficient at its own maximum than it is at the
same rate; a ranking stands only where both conditions agree (harness/claims/ranking.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from harness.analysis.load_projection import common_rate, highest_sustained, sustained_steps
from harness.claims.facts import Pick
from harness.claims.metrics import Metric
from harness.claims.outcome import Outcome
from harness.model.record import RunRecord


@dataclass(frozen=True)
class EqualRate:
    """The equal-rate condition: the rate, and each platform's runs read at it (empty: no such rate)."""

    rate_per_s: float | None
    picks: dict[str, Pick]
    why_none: str = ""  # when there is no equal rate: why

    @property
    def label(self) -> str:
        return f"at {self.rate_per_s:g} runs/s, the highest offered rate every compared platform sustained"


def _runs(g: Pick) -> list[RunRecord]:
    return [r for r in (g.runs or [g.record]) if r is not None and getattr(r, "load", None) is not None]


def at_equal_rate(got: dict[str, Pick], metric: Metric) -> EqualRate:
    """Each platform's figure at the highest offered rate sustained in every run of every platform."""
    assert metric.at_rate is not None
    rate = common_rate(r.load for g in got.values() for r in _runs(g))
    if rate is None:
        return EqualRate(
            None, {}, f"no offered rate was sustained in every run of every compared platform ({own_max(got)})"
        )
    picks = {}
    for p, g in got.items():
        figs = [(r, metric.at_rate(r, rate)) for r in _runs(g)]
        if not figs or any(f is None for _, f in figs):
            return EqualRate(None, {}, f"{p} has no {metric.label} at {rate:g} runs/s")
        picks[p] = replace(g, figure=figs[0][1], values=[f.value for _, f in figs], runs=[r for r, _ in figs])
    return EqualRate(rate, picks)


def own_max(got: dict[str, Pick]) -> str:
    """Each platform's highest sustained rate in each of its runs: 'hatchet 50/25 runs/s, temporal 10/10 runs/s'."""
    parts = []
    for p, g in got.items():
        tops = [highest_sustained(r.load) for r in _runs(g)]
        shown = "/".join(f"{t.rate_per_s:g}" if t else "none" for t in tops)
        parts.append(f"{p} {shown} runs/s")
    return ", ".join(parts)


def sustained_in_all(got: dict[str, Pick]) -> str:
    """The rates each platform sustained in every one of its runs, for the conditions."""
    parts = []
    for p, g in got.items():
        sets = [{s.rate_per_s for s in sustained_steps(r.load)} for r in _runs(g)]
        rates = sorted(set.intersection(*sets)) if sets else []
        parts.append(f"{p} {', '.join(f'{x:g}' for x in rates) or 'none'}")
    return "; ".join(parts)


OWN_MAX = "at each platform's highest sustained step"
DECIDED = ("supported", "contradicted")


def both_conditions(own: Outcome, eq: EqualRate, rank: Callable[[dict[str, Pick]], Outcome]) -> Outcome:
    """The ranking at each platform's own maximum (`own`) and at the equal rate (`rank` orders a set of
    picks), as one verdict: decided only where both conditions give the same one."""
    if eq.rate_per_s is None:
        out = replace(own, evidence=f"{OWN_MAX}: {own.evidence}; at one offered rate: not compared, {eq.why_none}")
        out.stats = own.stats | {
            "decides": _join(
                own.stats.get("decides"), "sweeps of every compared platform that share a sustained offered rate"
            )
        }
        out.verdict = "inconclusive"
        return out
    equal = rank(eq.picks)
    agree = own.verdict == equal.verdict
    out = replace(
        own,
        verdict=own.verdict if agree else "inconclusive",
        evidence=f"{OWN_MAX}: {own.evidence} | {eq.label}: {equal.evidence}",
        parts=[
            *own.parts,
            *(e.model_copy(update={"text": f"{e.text} at {eq.rate_per_s:g} runs/s"}) for e in equal.parts),
        ],
    )
    out.stats = _stats(own, equal, eq)
    if not agree and own.verdict in DECIDED and equal.verdict in DECIDED:
        out.evidence += (
            f"; the two conditions disagree: {own.verdict} at each platform's own maximum, "
            f"{equal.verdict} at {eq.rate_per_s:g} runs/s"
        )
        out.stats["decides"] = (
            "nothing more of the same: CPU per task depends on the offered rate here, so the claimed order holds "
            "under one condition and not the other; a ranking needs both to agree"
        )
    elif not agree:
        one, other = (own, equal) if own.verdict in DECIDED else (equal, own)
        where = "each platform's own maximum" if one is own else f"{eq.rate_per_s:g} runs/s"
        out.evidence += f"; {one.verdict} only at {where}"
        out.stats["decides"] = other.stats.get("decides", "")
    return out


def _stats(own: Outcome, equal: Outcome, eq: EqualRate) -> dict:
    rate = f"{eq.rate_per_s:g}"
    ns = [n for n in (own.stats.get("n"), equal.stats.get("n")) if n is not None]
    return own.stats | {
        "n": min(ns) if ns else None,
        "statistic": f"{own.stats.get('statistic')}; under two conditions, each platform's highest sustained step "
        f"and {rate} runs/s (the highest offered rate every compared platform sustained in every run), "
        "decided only where both agree",
        "p_values": own.stats.get("p_values", {})
        | {f"{k} @ {rate}/s": v for k, v in equal.stats.get("p_values", {}).items()},
        "conditions": own.stats.get("conditions", {})
        | {
            "own_max": f"each platform's highest sustained step, per run: {own_max(eq.picks)}",
            "equal_rate": f"{rate} runs/s: the highest offered rate sustained in every run of every compared "
            f"platform (sustained in all runs: {sustained_in_all(eq.picks)})",
        },
        "decides": _join(own.stats.get("decides"), equal.stats.get("decides")),
    }


def _join(*texts: str | None) -> str:
    return "; ".join(dict.fromkeys(t for t in texts if t))
