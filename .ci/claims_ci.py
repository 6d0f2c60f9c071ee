"""Helpers of .ci/reproduce-claims: what to reproduce, and how its verdicts differ from the committed ones.

python .ci/claims_ci.py platforms     the seed document's platforms runnable natively here, on a stack that is
                                      not a development server
python .ci/claims_ci.py workloads     the default workloads (`bench suite`'s) that a claim of claims/claims.yaml
                                      names, most-named first (fault and rate-sweep workloads are longer: not here)
python .ci/claims_ci.py diff OLD NEW  verdicts that differ between two results folders (never a failure:
                                      machines are noisy); exit 1 only when a claim could not be evaluated

The gate that fails CI (a flipped verdict, a figure moved beyond the tolerance) is not here: it is
`python -m harness.tools.claims_gate OLD NEW` (harness/report/gate.py), which .ci/reproduce-claims runs.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml


def platforms() -> list[str]:
    from harness import platforms as registry
    from harness.cli.doctor import runnable

    out = []
    for name in registry.orchestrators():
        info = registry.get(name)
        # a reference platform (Airflow) matters only beside Windmill, which needs a Docker engine; its
        # minutes are better spent elsewhere here (CLAIMS_CI_PLATFORMS can name it)
        if info.kind != "seed" or not info.has_native or not runnable(name, "native"):
            continue
        # claims about a deployment are judged on production-shaped stacks only: a dev server adds nothing
        if (yaml.safe_load((info.stack_dir / "native.yaml").read_text()) or {}).get("deployment") == "development":
            continue
        out.append(name)
    return out


def workloads() -> list[str]:
    from harness.cli.app import DEFAULT_WORKLOADS

    try:
        from harness.claims import load
    except ImportError:  # claims as code (before issue 9): every default workload
        return list(DEFAULT_WORKLOADS)
    named = Counter(m.workload for c in load().claims for m in c.needs.measures)
    # most-named first: under CI's time budget the workloads that decide the most claims run first
    return sorted((w for w in DEFAULT_WORKLOADS if w in named), key=lambda w: -named[w])


def verdicts(results: Path) -> dict[str, tuple[str, str]]:
    """claim id -> (verdict, evidence), the way `bench claims` evaluates a results folder."""
    from harness.claims import table

    return {r.id: (r.verdict, r.evidence.text) for r in table.results_for(results)}


def diff(old: Path, new: Path) -> int:
    a, b = verdicts(old), verdicts(new)
    was = {cid: a.get(cid, ("absent from the committed results", ""))[0] for cid in b}
    changed = [(cid, was[cid], verdict) for cid, (verdict, _) in b.items() if was[cid] != verdict]
    errors = [cid for cid, (verdict, _) in b.items() if verdict == "error"]
    print(
        f"== verdicts against the committed results ({old}): {len(changed)} of {len(b)} differ"
        + (
            " (a difference is not a failure: this machine and these short runs are not the reference's)"
            if changed
            else ""
        )
    )
    width = max((len(cid) for cid, _, _ in changed), default=0)
    for cid, was, now in changed:
        print(f"   {cid:<{width}}  {was} -> {now}")
    for cid in errors:
        print(f"   ERROR {cid}: {b[cid][1]}")
    return 1 if errors else 0


def main(argv: list[str]) -> int:
    from harness.model.errors import BenchError

    try:
        if argv[:1] == ["platforms"]:
            print(" ".join(platforms()))
        elif argv[:1] == ["workloads"]:
            print(" ".join(workloads()))
        elif argv[:1] == ["diff"] and len(argv) == 3:
            return diff(Path(argv[1]), Path(argv[2]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
