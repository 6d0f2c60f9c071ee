"""Reading schema version 1 (run.json before harness/model/record.py): its fields mapped onto version 2.

Version 1 kept the deployment as a bare string ("production", "development") with the stack's
description and variant beside it, and no list of services. Everything needed is in the old file
itself: the long-running services are the steps of `setup.services_ready_s` plus the harness's
worker, with the roles the resource summary recorded for them (a step never sampled ran once and
exited: a schema job, a migration). Nothing is looked up in today's stack files.
"""

from __future__ import annotations

from typing import Any

# The role when the old file has no resource summary to tell which steps stayed up, and as what.
UNRECORDED = "unrecorded"


def migrate_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-1 run.json as a version-2 document (validated by the caller)."""
    doc = dict(doc)
    backend = doc.get("backend", "native")
    variant = doc.pop("variant", None) or backend
    kind = doc.pop("deployment", None) or _kind_from(backend, variant)
    description = doc.pop("stack_description", None) or ""
    doc.pop("sampler_hz", None)  # the same figure as sampler.hz, which version 2 keeps
    doc["deployment"] = {
        "kind": kind,
        "backend": backend,
        "variant": variant,
        "description": description,
        "services": _services(doc, in_process=kind == "in-process"),
    }
    doc["schema_version"] = 2
    doc["migrated_from_schema"] = 1
    return doc


def _kind_from(backend: str, variant: str) -> str:
    if backend == "external":
        return "external"
    return "in-process" if variant == "in-process" else "production"


def _services(doc: dict[str, Any], in_process: bool) -> list[dict[str, str]]:
    setup = doc.get("setup") if isinstance(doc.get("setup"), dict) else {}
    ready = setup.get("services_ready_s") if isinstance(setup.get("services_ready_s"), dict) else {}
    names = list(ready)
    if not in_process and "worker" not in names:
        names.append("worker")
    roles = _sampled_roles(doc)
    names += [n for n in roles if n not in names]
    if roles:  # sampled services only: the others were one-shot steps
        names = [n for n in names if n in roles or n == "worker"]
    return [{"name": n, "role": roles.get(n, "worker" if n == "worker" else UNRECORDED)} for n in names]


def _sampled_roles(doc: dict[str, Any]) -> dict[str, str]:
    """service -> role as the resource summary recorded it (the harness itself left out)."""
    summary = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
    rows = summary.get("resources") if isinstance(summary.get("resources"), list) else []
    roles: dict[str, str] = {}
    for row in rows:
        if isinstance(row, dict) and row.get("role") and row.get("role") != "harness":
            roles.setdefault(str(row.get("service")), str(row["role"]))
    return roles
