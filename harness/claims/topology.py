"""Claims about failover or high availability are judged on a topology that can fail over: more
than one instance of the component the fault hit. Restarting the only instance of a service on one
machine shows that work survives a restart, not that another instance takes over; on such a stack
the verdict is inconclusive, the measured figures kept in its evidence."""

from __future__ import annotations

from harness.claims.metrics import fault_outcomes
from harness.claims.model import Claim
from harness.claims.outcome import Outcome
from harness.model.record import RunRecord, component_of

UNDECIDED = ("not measured", "not measurable", "error")  # nothing measured to re-judge


def instances(record: RunRecord, name: str) -> int:
    """Services of the run's recorded deployment that are instances of the component `name`: its own
    name, or the name with a replica suffix ('history', 'history-2'; 'frontend-1', 'frontend-2')."""
    return sum(1 for s in record.deployment.services if component_of(s.name) == component_of(name))


def hit_components(records: list[RunRecord]) -> list[str]:
    """The components the fault experiments hit (by service name without a replica suffix, else role),
    each once."""
    hit = (component_of(o.service) if o.service else o.role for r in records for o in fault_outcomes(r))
    return list(dict.fromkeys(c for c in hit if c))


def on_replicated_topology(claim: Claim, out: Outcome) -> Outcome:
    """`out` as it stands where every component the fault hit ran as at least `needs.replicas`
    instances in some run; else inconclusive, saying so."""
    need = claim.needs.replicas
    if not need or out.verdict in UNDECIDED:
        return out
    hit = hit_components(out.records) or [claim.needs.fault_scenarios()[0] + "'s target"]
    most = {c: max((instances(r, c) for r in out.records), default=0) for c in hit}
    short = [c for c, n in most.items() if n < need]
    if not short:
        return out
    names = short[0] if len(short) == 1 else f"each of {', '.join(short[:-1])} and {short[-1]}"
    ran = ", ".join(f"{c} x{max(n, 1)}" for c, n in most.items())
    reason = f"judged only on a topology with more than one instance of {names}; the measured stack runs one"
    out.evidence += f"; but {reason} ({ran})"
    out.verdict = "inconclusive"
    out.stats = out.stats | {
        "decides": f"a run of the fault on a stack with at least {need} instances of {names} (e.g. on loopback)",
        "conditions": out.stats.get("conditions", {}) | {"topology": reason},
    }
    return out
