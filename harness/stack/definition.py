"""Stack definitions: stacks/<platform>/native.yaml, rendered for one run.

Strings may reference `{port.NAME}` (a free loopback port, or one the user pinned),
`{secret.NAME}` (generated per run, redacted from everything the harness writes),
`{run_dir}`, `{env_bin}` (the platform's installed environment) and `{run_id}`.
"""
from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BenchError
from ..paths import STACKS_DIR
from .ports import free_port
from .service import ReadyCheck, ServiceSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Setting(_Strict):
    value: Any
    default: Any
    why: str


class ReadyDef(_Strict):
    http: str | None = None
    tcp: str | None = None
    command: list[str] | None = None
    timeout_s: float = 120


class ServiceDef(_Strict):
    name: str
    role: str = "server"
    builtin: str | None = None            # "postgres": provided by harness/stack/postgres.py
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[str] = Field(default_factory=list)
    ready: ReadyDef | None = None
    variants: list[str] | None = None     # only in these variants (default: all)


class VariantDef(_Strict):
    default: bool = False
    description: str = ""
    env: dict[str, dict[str, str]] = Field(default_factory=dict)   # service -> extra env
    settings: dict[str, Setting] = Field(default_factory=dict)


class InstallDef(_Strict):
    python: list[str] = Field(default_factory=list)   # distributions installed into the platform's environment


class StackDef(_Strict):
    platform: str
    description: str = ""
    # "production": the shape the vendor documents for self-hosting; "development": a single-process
    # dev server. Claims about deployments are judged only on production-shaped stacks.
    deployment: Literal["production", "development"] = "production"
    install: InstallDef = InstallDef()
    variants: dict[str, VariantDef]
    services: list[ServiceDef]
    settings: dict[str, Setting] = Field(default_factory=dict)
    endpoints: dict[str, str] = Field(default_factory=dict)

    def default_variant(self) -> str:
        return next((n for n, v in self.variants.items() if v.default), next(iter(self.variants)))


def load(platform: str) -> StackDef:
    path = STACKS_DIR / platform / "native.yaml"
    if not path.is_file():
        raise BenchError(f"no native stack for {platform!r} ({path} is missing)")
    try:
        return StackDef.model_validate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as err:
        raise BenchError(f"{path}: malformed YAML: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise BenchError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


class _Lazy:
    """Attribute access creates the value on first use, so a definition names what it needs."""

    def __init__(self, make, fixed: dict | None = None):
        self._make, self._values = make, dict(fixed or {})

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            self._values[name] = self._make()
        return self._values[name]

    def values(self) -> dict:
        return dict(self._values)


@dataclass
class RenderContext:
    run_id: str
    run_dir: Path
    env_bin: Path
    pinned_ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.port = _Lazy(free_port, self.pinned_ports)
        self.secret = _Lazy(lambda: _secrets.token_urlsafe(24))

    def render(self, text: str) -> str:
        try:
            return text.format(port=self.port, secret=self.secret, run_dir=self.run_dir,
                               env_bin=self.env_bin, run_id=self.run_id)
        except (KeyError, AttributeError, IndexError) as err:
            raise BenchError(f"stack definition references unknown placeholder {err} in {text!r}") from None

    def secrets(self) -> list[str]:
        return list(self.secret.values().values())


@dataclass
class RenderedStack:
    platform: str
    variant: str
    services: list[ServiceSpec]
    endpoints: dict[str, str]
    settings: dict[str, dict]
    secrets: list[str]


def render(defn: StackDef, variant: str, ctx: RenderContext) -> RenderedStack:
    if variant not in defn.variants:
        raise BenchError(f"{defn.platform} has no variant {variant!r}; known: {', '.join(defn.variants)}")
    vdef = defn.variants[variant]
    services = []
    for sdef in defn.services:
        if sdef.variants is not None and variant not in sdef.variants:
            continue
        if sdef.builtin == "postgres":
            from .postgres import postgres_service
            services.append(postgres_service(sdef.name, ctx))
            continue
        env = {k: ctx.render(v) for k, v in {**sdef.env, **vdef.env.get(sdef.name, {})}.items()}
        ready = None
        if sdef.ready:
            r = sdef.ready
            ready = ReadyCheck(http=ctx.render(r.http) if r.http else None,
                               tcp=int(ctx.render(r.tcp)) if r.tcp else None,
                               command=tuple(ctx.render(c) for c in r.command) if r.command else None,
                               timeout_s=r.timeout_s)
        services.append(ServiceSpec(
            name=sdef.name, role=sdef.role, command=[ctx.render(c) for c in sdef.command], env=env, ready=ready,
            ports={p: int(ctx.render("{port.%s}" % p)) for p in sdef.ports}))
    endpoints = {k: ctx.render(v) for k, v in defn.endpoints.items()}
    settings = {k: s.model_dump() for k, s in {**defn.settings, **vdef.settings}.items()}
    return RenderedStack(defn.platform, variant, services, endpoints, settings, ctx.secrets())
