"""Ranking claims: the platforms' claimed levels of one figure (lower: less of it), decided pair by
pair by Mann-Whitney U over each platform's independent runs."""

from __future__ import annotations

from harness.claims.dimensions import on_each_dimension
from harness.claims.equal_rate import at_equal_rate, both_conditions
from harness.claims.evidence import Evidence
from harness.claims.facts import Facts, Pick, condition_fields
from harness.claims.metrics import METRICS
from harness.claims.model import Claim, ClaimsFile
from harness.claims.outcome import Outcome, estimate_fields, more_runs, not_measured
from harness.claims.stats import ALPHA, MIN_RUNS, mann_whitney_p, median_over_runs


def ranking(claim: Claim, facts: Facts, parsed: ClaimsFile) -> Outcome:
    pred = claim.predicate
    if pred.dimensions:
        return on_each_dimension(claim, facts, parsed, ranking)
    picks = {p: facts.pick(p, claim.needs.measures, claim.needs.deployment) for p in pred.levels}
    got = {p: g for p, g in picks.items() if g.figure is not None}
    missing = {p: g.missing for p, g in picks.items() if g.figure is None}
    claimed = _claimed_order(pred.levels)
    if pred.focus and pred.focus not in got:
        return not_measured(missing[pred.focus])
    if len({pred.levels[p] for p in got}) < 2:
        if pred.focus:
            only = METRICS[got[pred.focus].metric]
            return Outcome(
                "inconclusive",
                f"{pred.focus} {only.label} {only.describe(got[pred.focus].figure)}; no other platform to compare",
                [got[pred.focus].record],
                "; ".join(missing.values()),
                stats={"decides": "a second platform of another claimed level measured"},
            )
        return not_measured(f"needs at least two of {claimed} measured: " + "; ".join(missing.values()))
    own = _ranked(claim, facts, got, missing, claimed)
    metric = METRICS[got[next(iter(got))].metric]
    if metric.at_rate is None:
        return own
    return both_conditions(
        own, at_equal_rate(got, metric), lambda eq: _ranked(claim, facts, eq, {}, claimed, brief=True)
    )


def _ranked(
    claim: Claim, facts: Facts, got: dict[str, Pick], missing: dict[str, str], claimed: str, brief: bool = False
) -> Outcome:
    """The ordering over one condition; `brief`: the figures alone (a second condition of the same claim)."""
    pred = claim.predicate
    metric = METRICS[got[next(iter(got))].metric]
    medians = {p: median_over_runs(g.values) for p, g in got.items()}
    ev = f"{metric.label}, median over runs: " + ", ".join(
        f"{p} {metric.show(medians[p].value)} ({medians[p].n} run{'s' if medians[p].n > 1 else ''})"
        for p in sorted(got, key=lambda p: medians[p].value)
    )
    if not brief:
        ev += f" (claimed order: {claimed})" + _also_each(claim, got)
    if missing:
        ev += "; not measured: " + ", ".join(missing)
    records = [r for g in got.values() for r in (g.runs or [g.record])]
    first = next(iter(got.values())).record
    stats = {
        "n": min(m.n for m in medians.values()),
        "statistic": f"{metric.label} per platform, an exact count compared as it is"
        if metric.exact
        else f"median over runs of {metric.label} per platform; pairs by Mann-Whitney U (alpha {ALPHA:g})",
        "threshold_source": getattr(pred, "source", None) or "seed: the claimed order of the platforms",
        "conditions": {k: v for k, v in condition_fields(first).items() if k in ("cores", "memory", "cpu")}
        | {"stacks": "; ".join(f"{p}: {condition_fields(g.record)['stack']}" for p, g in got.items())},
    }
    parts = [Evidence(text=p, **estimate_fields(metric, medians[p], g.record)) for p, g in got.items()]
    out = Outcome("inconclusive", ev, records, "; ".join(missing.values()), stats=stats, parts=parts)
    devs = [p for p, g in got.items() if g.dev]
    if devs:
        out.evidence += f"; {', '.join(devs)} measured only as a development server"
        out.stats["decides"] = f"runs of production-shaped stacks of {', '.join(devs)}"
        return out
    wrong, undecided, short, p_values = _pairs(pred.levels, got, pred.focus, metric.exact)
    out.stats["p_values"] = p_values
    if wrong:
        out.verdict = "contradicted"
        out.evidence += "; out of order: " + ", ".join(f"{a} not below {b}{_p(p_values, a, b)}" for a, b in wrong)
    elif short:
        out.stats["decides"] = "; ".join(
            more_runs(facts, got[p].record, got[p].workload, len(got[p].values)) for p in short
        )
    elif undecided:
        out.evidence += "; not significant: " + ", ".join(f"{a} vs {b}{_p(p_values, a, b)}" for a, b in undecided)
        out.stats["decides"] = "more runs of " + ", ".join(sorted({x for pair in undecided for x in pair}))
    else:
        out.verdict = "supported"
    return out


def _also_each(claim: Claim, got: dict[str, Pick]) -> str:
    """The claim's context figures for every ranked platform ('; start -> ready: prefect 9.8 s, ...')."""
    parts = []
    for name in claim.also:
        metric = METRICS[name]
        figs = {p: metric.read(g.record) for p, g in got.items()}
        shown = ", ".join(f"{p} {metric.describe(f)}" for p, f in figs.items() if f is not None)
        parts.append(f"; {metric.label}: {shown}" if shown else "")
    return "".join(parts)


def _claimed_order(levels: dict[str, int]) -> str:
    by_level: dict[int, list[str]] = {}
    for p, level in levels.items():
        by_level.setdefault(level, []).append(p)
    return " < ".join(" = ".join(ps) for _, ps in sorted(by_level.items()))


def _pairs(levels: dict[str, int], got: dict[str, Pick], focus: str | None, exact: bool = False):
    """Each pair the claim orders (a claimed below b): significantly the other way (wrong), not
    significant or possibly still above (undecided), or with too few runs (short: the platforms).
    An exact count (services) is compared as it is: every run of a platform shows the same one."""
    wrong, undecided, short, p_values = [], [], [], {}
    for a in got:
        for b in got:
            if levels[a] >= levels[b] or (focus and focus not in (a, b)):
                continue
            ga, gb = got[a], got[b]
            if exact:
                if not max(ga.values) < min(gb.values):
                    (wrong if min(ga.values) >= max(gb.values) else undecided).append((a, b))
                continue
            for p in (a, b):
                if len(got[p].values) < MIN_RUNS and p not in short:
                    short.append(p)
            if len(ga.values) < MIN_RUNS or len(gb.values) < MIN_RUNS:
                continue
            p = p_values[f"{a}<{b}"] = mann_whitney_p(ga.values, gb.values)
            below = median_over_runs(ga.values).value < median_over_runs(gb.values).value
            if p >= ALPHA or (gb.figure.lower_bound and not below):
                undecided.append((a, b))  # b's true value may still be above a's
            elif not below:
                wrong.append((a, b))
    return wrong, undecided, short, p_values


def _p(p_values: dict[str, float], a: str, b: str) -> str:
    p = p_values.get(f"{a}<{b}")
    return f" (p={p:.3g})" if p is not None else ""
