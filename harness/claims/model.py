"""The claims file (claims/claims.yaml) as typed models, validated strictly.

Every claim of the seed document is a row: who it is about, the exact words and where they are,
what it needs measured (metrics, workloads, deployment shape, load step, fault scenario) and a
predicate from a small set of kinds. An unknown key, a missing field, an unknown kind, metric,
platform or workload is one line naming the file and the field; adding a claim is a row, not code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Union, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.claims.metrics import METRICS
from harness.model.errors import BenchError, invalid
from harness.model.fault_record import Behaviour
from harness.model.paths import REPO_ROOT
from harness.model.registry import platforms as registered
from harness.model.spec import available
from harness.model.yamlfile import read_yaml_mapping

CLAIMS_FILE = REPO_ROOT / "claims" / "claims.yaml"
Op = Literal["<", "<=", ">", ">=", "=="]
Deployment = Literal["any", "production"]
SOURCES = ("seed: ", "vendor: ", "operationalisation: ")


def _sourced(text: str) -> str:
    """Where a predicate's number or rule comes from: the seed's own words, a vendor document, or ours."""
    prefix = next((p for p in SOURCES if text.startswith(p)), None)
    if prefix is None or not text[len(prefix) :].strip():
        raise ValueError(
            "must start with 'seed: ' (the seed's exact words), 'vendor: ' (a vendor document's title) or "
            "'operationalisation: ' (why the value stands for the claim's words), followed by text"
        )
    return text


# Required on every predicate that carries a number or rule deciding the verdict (threshold, ratio, fault).
Source = Annotated[str, AfterValidator(_sourced)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    """One metric on one workload; a claim lists them in order of preference (the first measured decides)."""

    workload: str
    metric: str | None = None  # None only for fault and capability claims


class Needs(_Strict):
    deployment: Deployment = "any"  # production: only a run that recorded a production-shaped deployment
    measures: list[Measure] = Field(default_factory=list)
    load_step: str | None = None  # which step of a load sweep the figure comes from
    fault: str | list[str] | None = None  # the fault scenario(s) whose outcomes decide
    # a claim about failover or high availability: judged only on a run whose stack ran at least this
    # many instances of the component the fault hit (harness/claims/topology.py)
    replicas: int | None = Field(default=None, ge=2)

    def fault_scenarios(self) -> list[str]:
        return [self.fault] if isinstance(self.fault, str) else list(self.fault or [])


class Threshold(_Strict):
    kind: Literal["threshold"]
    op: Op
    value: float
    source: Source


class Ranking(_Strict):
    """Claimed levels of the metric: a platform on a lower level has less of it than one on a higher
    level (same level: no claim between them). `focus`: the claim is about this platform's place."""

    kind: Literal["ranking"]
    levels: dict[str, int]
    focus: str | None = None
    source: Source | None = None  # optional: the ordering is the seed's own claimed levels
    # further metrics the same order is judged on, on the same workload (claims/dimensions.py): the
    # claim is decided only where the order comes out the same on needs.measures' metric and every one
    dimensions: list[str] = Field(default_factory=list)


class Ratio(_Strict):
    """subject is at least `at_least` times better than baseline on the metric (better: the metric's direction)."""

    kind: Literal["ratio"]
    baseline: str
    at_least: float = Field(gt=0)
    source: Source


class Expect(_Strict):
    metric: str
    op: Op
    value: float


class Fault(_Strict):
    """A fault experiment of the scenario (each workload of needs.measures) holds when it meets every
    expectation; `behaviours`: what the platform may have done with the interrupted work
    (fault_record.Behaviour). `min_share`: the claim holds in a share of experiments above this (the
    verdict uses an exact binomial interval over experiments); the rationale is in claims.yaml's header."""

    kind: Literal["fault"]
    expect: list[Expect] = Field(default_factory=list)
    behaviours: list[str] = Field(default_factory=list)
    source: Source
    min_share: float = Field(default=0.5, ge=0, lt=1)


class Capability(_Strict):
    """The run recorded an endpoint of this name (e.g. a Prometheus metrics endpoint)."""

    kind: Literal["capability"]
    endpoint: str
    setting: str | None = None  # a run setting that enabled it, cited with its default


class NotMeasurable(_Strict):
    kind: Literal["not_measurable"]
    reason: str = Field(min_length=1)


Predicate = Annotated[Union[Threshold, Ranking, Ratio, Fault, Capability, NotMeasurable], Field(discriminator="kind")]


class Claim(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    platforms: list[str] = Field(min_length=1)
    section: str = Field(min_length=1)
    quote: str = Field(min_length=1)
    needs: Needs = Needs()
    predicate: Predicate
    also: list[str] = Field(default_factory=list)  # metrics shown in the evidence beside the deciding one

    @property
    def measurable(self) -> bool:
        return self.predicate.kind != "not_measurable"

    @property
    def kind(self) -> str:
        return self.predicate.kind

    @property
    def subject(self) -> str:
        return ", ".join(self.platforms)

    @model_validator(mode="after")
    def _fits_its_kind(self) -> "Claim":
        kind, needs = self.predicate.kind, self.needs
        if kind in ("threshold", "ranking", "ratio") and not all(m.metric for m in needs.measures):
            raise ValueError(f"a {kind} claim needs needs.measures, each with a metric")
        if kind in ("threshold", "ranking", "ratio") and not needs.measures:
            raise ValueError(f"a {kind} claim needs needs.measures")
        if kind == "fault" and (not needs.fault or not needs.measures):
            raise ValueError("a fault claim needs needs.fault and needs.measures (the fault workloads)")
        if needs.replicas and kind != "fault":
            raise ValueError("needs.replicas is for a fault claim (the failing component's instances)")
        if kind == "fault" and not (self.predicate.expect or self.predicate.behaviours):
            raise ValueError("a fault claim needs predicate.expect or predicate.behaviours")
        if kind == "not_measurable" and (needs.measures or needs.fault or needs.load_step):
            raise ValueError("a not_measurable claim needs nothing measured (drop needs)")
        if kind == "ranking" and self.predicate.focus and self.predicate.focus not in self.predicate.levels:
            raise ValueError(f"predicate.focus {self.predicate.focus!r} is not one of predicate.levels")
        return self


class ClaimsFile(_Strict):
    document: str
    reasons: dict[str, str] = Field(default_factory=dict)  # shared reasons of not_measurable rows
    planned_platforms: dict[str, str] = Field(default_factory=dict)  # named by claims, not registered yet: why
    planned_workloads: dict[str, str] = Field(default_factory=dict)  # named by claims, not written yet: why
    claims: list[Claim] = Field(min_length=1)


# -- loading -------------------------------------------------------------------------------------
def load(path: Path | None = None) -> ClaimsFile:
    """The claims file, validated; BenchError (one line: file and field) when it cannot be one."""
    path = Path(path or CLAIMS_FILE)
    try:
        stat = path.stat()
    except OSError as err:
        raise BenchError(f"{path}: cannot read: {err.strerror or err}") from None
    return _load_cached(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load_cached(path: Path, _mtime_ns: int, _size: int) -> ClaimsFile:
    """Keyed by modification time and size, so an edited file is read again."""
    return _validated(read_yaml_mapping(path, "a claims file"), str(path))


def parse(text: str, source: str) -> ClaimsFile:
    """The claims file's text (from `source`), read like every YAML file the harness reads (libyaml)."""
    return _validated(read_yaml_mapping(None, "a claims file", text=text, source=source), source)


def _validated(data: dict, source: str) -> ClaimsFile:
    """The mapping as a ClaimsFile; a field error names the claim by its id (not yamlfile.validate_model,
    which names a row by its index), a consistent file is checked for contradictions."""
    try:
        parsed = ClaimsFile.model_validate(data)
    except ValidationError as err:
        raise invalid(source, _named(err, data)) from None
    problem = _inconsistency(parsed)
    if problem:
        raise BenchError(f"{source}: {problem}")
    return parsed


def _named(err: ValidationError, data: dict) -> ValidationError:
    """pydantic locates a row by its index; the error line is easier to act on with the claim's id."""
    first = err.errors()[0]
    loc = list(first["loc"])
    if len(loc) >= 2 and loc[0] == "claims" and isinstance(loc[1], int):
        rows = data.get("claims") or []
        row = rows[loc[1]] if loc[1] < len(rows) else None
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            first["loc"] = ("claims", f"{row['id']}", *loc[2:])
            return _OneError(first)
    return err


class _OneError:
    """Just enough of a ValidationError for errors.invalid: its (renamed) first error."""

    def __init__(self, first: dict):
        self.first = first

    def errors(self) -> list[dict]:
        return [self.first]


def _inconsistency(parsed: ClaimsFile) -> str | None:
    """What a well-formed file names that does not exist: ids twice, platforms, workloads, metrics, reasons."""

    known = set(registered()) | set(parsed.planned_platforms)
    workloads = set(available()) | set(parsed.planned_workloads)
    seen: set[str] = set()
    for c in parsed.claims:
        where = f"claims.{c.id}"
        if c.id in seen:
            return f"{where}: id used twice"
        seen.add(c.id)
        named = [*c.platforms, *_compared(c)]
        for p in named:
            if p not in known:
                return f"{where}: unknown platform {p!r} (registered: {', '.join(sorted(registered()))})"
        for m in c.needs.measures:
            if m.workload not in workloads:
                return (
                    f"{where}.needs.measures: unknown workload {m.workload!r} (not in workloads/ nor planned_workloads)"
                )
        for metric in _metrics(c):
            if metric not in METRICS:
                return f"{where}: unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})"
        if c.predicate.kind == "fault" and (odd := set(c.predicate.behaviours) - _behaviours()):
            known = ", ".join(sorted(_behaviours()))
            return f"{where}.predicate.behaviours: unknown {', '.join(sorted(odd))} (known: {known})"
        if c.predicate.kind == "not_measurable" and not _reason_ok(c.predicate.reason, parsed.reasons):
            return f"{where}.predicate.reason: {c.predicate.reason!r} is neither a key of reasons nor a sentence"
    return None


def _behaviours() -> set[str]:
    return set(get_args(Behaviour))


def _compared(c: Claim) -> list[str]:
    p = c.predicate
    if p.kind == "ranking":
        return list(p.levels)
    return [p.baseline] if p.kind == "ratio" else []


def _metrics(c: Claim) -> list[str]:
    names = [m.metric for m in c.needs.measures if m.metric] + list(c.also)
    names += list(c.predicate.dimensions) if c.predicate.kind == "ranking" else []
    return names + ([e.metric for e in c.predicate.expect] if c.predicate.kind == "fault" else [])


def _reason_ok(reason: str, reasons: dict[str, str]) -> bool:
    return reason in reasons or bool(re.search(r"\s", reason.strip()))


def reason_text(claim: Claim, parsed: ClaimsFile) -> str:
    """A not_measurable row's reason in words (a key of the shared reasons is expanded)."""
    assert claim.predicate.kind == "not_measurable"
    return parsed.reasons.get(claim.predicate.reason, claim.predicate.reason)
