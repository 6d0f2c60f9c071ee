"""The docs' blocks generated from the repository's own definitions: stacks/<p>/ (platform.yaml,
native.yaml, compose.yaml, README.md), workloads/*.yaml and claims/claims.yaml. Markdown text only;
harness/tools/docs_figures.py puts each block between its markers."""

from __future__ import annotations

import re
from collections import Counter

from harness.claims.model import Claim, ClaimsFile
from harness.model import registry, spec
from harness.model.registry import PlatformInfo
from harness.stack import compose, definition


def cell(value: object) -> str:
    """A value fit for one markdown table cell: lines joined, pipes escaped, and `<` outside code
    spans escaped (so "<owner>" is shown, not taken for an HTML tag, and "{port.api}" not for attributes)."""
    parts = " ".join(str(value).split()).replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace("{", "&#123;") for i, p in enumerate(parts))


def _table(head: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# -- platforms ------------------------------------------------------------------------------------
def platforms_table() -> str:
    """One row per registered platform, linking its page."""
    rows = []
    for name, info in registry.platforms().items():
        native = _native_status(info)
        rows.append(
            [f"[`{name}`]({name}.md)", info.kind, native, "yes" if info.has_compose else "no", info.description]
        )
    return _table(["platform", "kind", "native stack", "compose stack", "description"], rows)


def _native_status(info: PlatformInfo) -> str:
    if info.native_missing:
        return f"no: {info.native_missing}"
    if not info.has_native:
        return "no (in-process)" if info.in_process else "no"
    source = definition.load(info.name).install.source
    return f"yes, built from a source checkout of {source.version}" if source else "yes"


def platform_page(name: str) -> str:
    """What stacks/<name>/ defines: the registry entry, the native stack, the compose stack, its notes."""
    info = registry.get(name)
    parts = [_entry(info)]
    if info.has_native:
        parts.append(_native(name))
    if info.has_compose:
        parts.append(_compose(name))
    if info.recovery_defaults:
        parts.append("### Defaults that decide a fault's outcome\n\n" + _bullets(info.recovery_defaults))
    notes = info.stack_dir / "README.md"
    if notes.is_file():
        parts.append(f"### Notes (`stacks/{name}/README.md`)\n\n" + _demoted(notes.read_text()))
    return "\n".join(parts)


def _entry(info: PlatformInfo) -> str:
    rows = [
        ["kind", info.kind],
        ["stands for", info.represents or "the harness itself"],
        ["adapter", f"`{info.adapter}`"],
        ["native stack", _native_status(info)],
        ["compose stack", "yes" if info.has_compose else "no"],
    ]
    if info.seed_matrix:
        words = "; ".join(f"{k}: {v}" for k, v in info.seed_matrix.claims.items())
        rows.append(["the seed document's matrix column", f"{info.seed_matrix.column} ({words})"])
    return f"{info.description}\n\n" + _table(["registry entry", f"`stacks/{info.name}/platform.yaml`"], rows)


def _native(name: str) -> str:
    stack = definition.load(name)
    inst = stack.install
    got = [f"Python: {', '.join(f'`{p}`' for p in inst.python)}"] if inst.python else []
    if inst.go:
        got.append(
            f"Go: `{inst.go.module}` {inst.go.version}, {', '.join(inst.go.packages)} (Go >= {inst.go.requires_go})"
        )
    if inst.source:
        got.append(f"built from source: {inst.source.version} by `{inst.source.builder}` ({inst.source.how_to_get})")
    variants = [
        [f"`{v}`", "yes" if d.default else "", "yes" if d.vendor_production else "", d.description]
        for v, d in stack.variants.items()
    ]
    services = [
        [f"`{s.name}`", s.role, s.kind, ", ".join(s.variants or []) or "all", _ready(s)] for s in stack.services
    ]
    return (
        f"### Native stack (`stacks/{name}/native.yaml`)\n\n{stack.description} ({stack.deployment}-shaped).\n\n"
        + _bullets(got)
        + "\n"
        + _table(["variant", "default", "vendor's production shape", "description"], variants)
        + "\n"
        + _table(["step", "role", "kind", "variants", "ready when"], services)
        + _settings(stack.settings)
    )


def _ready(service: definition.ServiceDef) -> str:
    ready = service.ready
    if service.kind == "oneshot":
        return "exited 0"
    if service.builtin == "postgres":
        return "`pg_isready`"
    if ready is None:
        return "started"
    if ready.http:
        return f"HTTP `{ready.http}`"
    if ready.tcp:
        return f"TCP `{ready.tcp}`"
    return f"`{' '.join(ready.command or [])}` succeeds"


def _settings(settings: dict[str, definition.Setting]) -> str:
    if not settings:
        return ""
    rows = [[f"`{k}`", s.value, s.default, s.why] for k, s in settings.items()]
    return "\nSettings that differ from the platform's defaults:\n\n" + _table(
        ["setting", "value", "default", "why"], rows
    )


def _compose(name: str) -> str:
    stack = compose.load(name)
    rows = [[f"`{s}`", stack.bench.roles.get(s, "one-shot" if s in stack.oneshots() else "")] for s in stack.services]
    images = ", ".join(f"`{i}`" for i in stack.images)
    return (
        f"### Compose stack (`stacks/{name}/compose.yaml`)\n\nImages: {images}.\n\n"
        "Exercised here only against fakes of the Docker libraries (no Docker engine on this machine).\n\n"
        + _table(["service", "role"], rows)
    )


def _bullets(items: list[str]) -> str:
    return "".join(f"- {cell(i)}\n" for i in items)


def _demoted(text: str) -> str:
    """A stack README inside a page: its title dropped, every heading two levels lower."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return re.sub(r"^(#{1,4}) ", r"\1### ", "\n".join(lines).strip(), flags=re.M) + "\n"


# -- workloads ------------------------------------------------------------------------------------
def workloads_table() -> str:
    """One row per workloads/*.yaml."""
    rows = []
    for name in spec.available():
        w = spec.load(name)
        task = "" if w.shape in ("idle", "sweep") and not w.tasks else f"{w.tasks} × {w.task.op}"
        task += f"({w.task.n})" if w.task.op == "fib" else ""
        what = _workload_detail(w)
        rows.append([f"`{name}`", w.shape, task, w.runs, f"{w.warmup} + {w.repetitions}", w.timeout_s, what])
    head = ["workload", "shape", "tasks per run", "runs per repetition", "warmup + measured", "timeout (s)", "detail"]
    return _table(head, rows)


def _workload_detail(w: spec.Workload) -> str:
    if w.fault:
        f = w.fault
        target = f.target.service or f.target.role
        return f"fault `{f.scenario}`: {f.action} {target}; {w.description}"
    if w.sweep:
        return f"rates {', '.join(f'{r:g}' for r in w.sweep.rates)} runs/s, {w.sweep.step_s:g} s steps; {w.description}"
    if w.shape == "idle":
        return f"{w.duration_s:g} s with no load; {w.description}"
    return w.description


# -- claims ---------------------------------------------------------------------------------------
def claims_operationalised(parsed: ClaimsFile) -> str:
    """Every measurable claim, a section each (so a claim can be linked): its words, what decides it
    and where the rule comes from."""
    parts = [
        f"### `{c.id}`\n\n“{cell(c.quote)}” ({cell(c.section)}; about {', '.join(c.platforms)})\n\n"
        f"- measured as: {cell(_measures(c))}\n- holds when: {cell(_predicate(c))}\n- rule from: {cell(_source(c))}\n"
        for c in parsed.claims
        if c.measurable
    ]
    return "\n".join(parts)


def claims_not_measurable(parsed: ClaimsFile) -> str:
    """How many claims each reason leaves without a measurement."""
    reasons = Counter(
        parsed.reasons.get(c.predicate.reason, c.predicate.reason) for c in parsed.claims if not c.measurable
    )
    rows = [[n, reason] for reason, n in reasons.most_common()]
    return _table(["claims", "why no measurement can speak to them"], rows)


def _measures(c: Claim) -> str:
    shown = [f"`{m.metric}` on `{m.workload}`" if m.metric else f"`{m.workload}`" for m in c.needs.measures]
    text = shown[0] if shown else "any recorded run"
    if len(shown) > 1:
        text += f" (else {', '.join(shown[1:])})"
    if c.needs.deployment == "production":
        text += "; production-shaped stacks only"
    if c.needs.replicas:
        text += f"; at least {c.needs.replicas} replicas"
    return text


def _predicate(c: Claim) -> str:
    p = c.predicate
    if p.kind == "threshold":
        return f"{p.op} {p.value:g}"
    if p.kind == "ranking":
        order = " < ".join(
            " = ".join(sorted(k for k, v in p.levels.items() if v == lvl)) for lvl in sorted(set(p.levels.values()))
        )
        return order + (f" (about {p.focus}'s place)" if p.focus else "")
    if p.kind == "ratio":
        return f"at least {p.at_least:g}× better than {p.baseline}"
    if p.kind == "fault":
        expect = [f"{e.metric} {e.op} {e.value:g}" for e in p.expect]
        did = [f"behaviour in {', '.join(p.behaviours)}"] if p.behaviours else []
        return "; ".join(expect + did) + f", in more than {p.min_share:.0%} of experiments"
    return f"an endpoint `{p.endpoint}` recorded"


def _source(c: Claim) -> str:
    if c.kind == "ranking":
        return c.predicate.source or "seed: the document's claimed levels"
    return getattr(c.predicate, "source", None) or "the endpoint's presence"
