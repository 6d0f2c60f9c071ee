"""Stack definitions: stacks/<platform>/native.yaml, rendered for one run.

Strings may reference `{port.NAME}` (a free loopback port, or one the user pinned),
`{lowport.NAME}` (the same, below 32768, for services that store ports as 16-bit integers),
`{secret.NAME}` (generated per run, or captured from a one-shot step; redacted from everything
the harness writes), `{run_dir}`, `{env_bin}` (the platform's Python environment), `{go_bin}`
(the platform's Go binaries) and `{run_id}`. Steps are rendered one at a time, just before they
run, so a later step can use what an earlier one captured (e.g. an API token).
"""

from __future__ import annotations

import os
import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.model.errors import BenchError
from harness.model.registry import stacks_root
from harness.model.yamlfile import load_yaml_model
from harness.stack.ports import free_port, free_port_below
from harness.stack.postgres import postgres_service
from harness.stack.service import ReadyCheck, ServiceSpec


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
    kind: Literal["service", "oneshot"] = "service"  # oneshot: runs to completion before the next step
    capture: str | None = None  # oneshot: its last line of stdout becomes {secret.<capture>}
    retry_s: float = 0  # oneshot: retry a failing command for this long
    builtin: str | None = None  # "postgres": provided by harness/stack/postgres.py
    args: list[str] = Field(default_factory=list)  # extra arguments for a builtin (e.g. "-c", "max_connections=300")
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[str] = Field(default_factory=list)
    ready: ReadyDef | None = None
    variants: list[str] | None = None  # only in these variants (default: all)
    # Start once these earlier steps are done (ready, or exited 0) instead of after every earlier step:
    # services the vendor's own deployment starts together. Their readiness is then awaited side by side.
    after: list[str] | None = None
    # Why this service listens beyond loopback, where it offers no setting for its address; any
    # undeclared listener beyond loopback ends the run (stack/listeners.py)
    beyond_loopback: str | None = None


class FileDef(_Strict):
    path: str
    content: str


class SystemNeed(_Strict):
    """A program a variant runs from the machine's own packages, and the package that provides it."""

    path: str
    package: str  # the Debian package: `apt-get install <package>`


class VariantDef(_Strict):
    default: bool = False
    # The configuration the vendor's own guide documents for production; claims about how a platform
    # is deployed (needs.deployment: production) are judged on its runs where there are any.
    vendor_production: bool = False
    description: str = ""
    system: list[SystemNeed] = Field(default_factory=list)
    env: dict[str, dict[str, str]] = Field(default_factory=dict)  # service -> extra env
    args: dict[str, list[str]] = Field(default_factory=dict)  # service -> arguments appended to its command
    files: list[FileDef] = Field(default_factory=list)  # written after the stack's; a file at the same path replaces it
    # Environment added to the harness's worker processes (the adapter's `workers()`), for a setting
    # the workers hold, e.g. Prefect's runner poll interval; the variant's `settings` record it.
    worker_env: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Setting] = Field(default_factory=dict)


class GoInstallDef(_Strict):
    module: str
    version: str
    packages: list[str]  # paths inside the module, e.g. cmd/hatchet-engine
    tags: list[str] = Field(default_factory=list)
    requires_go: str  # the module's `go` directive: the oldest toolchain that builds it


class SourceBuildDef(_Strict):
    """A server built from a source checkout outside the repository (harness/stack/source_build.py)."""

    builder: Literal["kestra", "windmill"]  # the module harness/stack/builders/<builder>.py: our recipe
    version: str  # the upstream release the checkout must hold (a tag or release commit)
    env_var: str  # where the checkout is named when `--source` is not given, e.g. KESTRA_SOURCE
    how_to_get: str  # one line: how a user obtains the checkout
    options: dict[str, Any] = Field(default_factory=dict)  # the builder's own settings (part of the cache key)


class InstallDef(_Strict):
    python: list[str] = Field(default_factory=list)  # distributions installed into the platform's environment
    # A requirements lock file with hashes, relative to the stack's folder: the environment is installed
    # from it alone, for a platform whose pins clash with this project's uv.lock (then `python` is empty).
    python_lock: str | None = None
    go: GoInstallDef | None = None
    source: SourceBuildDef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "InstallDef":
        if self.python_lock and self.python:
            raise ValueError("python and python_lock exclude each other (a lock names every distribution)")
        return self


class StackDef(_Strict):
    platform: str
    description: str = ""
    # "production": the shape the vendor documents for self-hosting; "development": a single-process
    # dev server. Claims about deployments are judged only on production-shaped stacks.
    deployment: Literal["production", "development"] = "production"
    install: InstallDef = InstallDef()
    variants: dict[str, VariantDef]
    env: dict[str, str] = Field(default_factory=dict)  # given to every non-builtin step
    files: list[FileDef] = Field(default_factory=list)  # written (mode 0600) before the first step
    services: list[ServiceDef]
    settings: dict[str, Setting] = Field(default_factory=dict)
    endpoints: dict[str, str] = Field(default_factory=dict)

    def default_variant(self) -> str:
        return next((n for n, v in self.variants.items() if v.default), next(iter(self.variants)))

    @model_validator(mode="after")
    def _after_names_earlier_steps(self) -> "StackDef":
        seen: list[str] = []
        for sdef in self.services:
            unknown = [n for n in sdef.after or [] if n not in seen]
            if unknown:
                raise ValueError(
                    f"services: {sdef.name}: after names {', '.join(unknown)}, "
                    f"not an earlier step (earlier: {', '.join(seen) or 'none'})"
                )
            seen.append(sdef.name)
        return self

    @model_validator(mode="after")
    def _variants_name_services(self) -> "StackDef":
        names = {s.name for s in self.services}
        for vname, vdef in self.variants.items():
            unknown = sorted({*vdef.env, *vdef.args} - names)
            if unknown:
                raise ValueError(
                    f"variants: {vname}: names no service {', '.join(unknown)} (services: {', '.join(sorted(names))})"
                )
        return self


def load(platform: str) -> StackDef:
    """The platform's native.yaml, validated (worded like every YAML file), its python_lock resolved."""
    path = stacks_root() / platform / "native.yaml"  # BENCH_STACKS_DIR or the repository's
    if not path.is_file():
        raise BenchError(f"no native stack for {platform!r} ({path} is missing)")
    defn = load_yaml_model(path, StackDef, "a native stack file")
    if defn.install.python_lock:  # resolved against the stack's own folder
        lock = path.parent / defn.install.python_lock
        if not lock.is_file():
            raise BenchError(f"{path}: install.python_lock: {lock} is missing")
        defn.install.python_lock = str(lock)
    return defn


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
    go_bin: Path | None = None
    build_dir: Path | None = None  # a source build's cache entry ({build_dir} in a stack file)

    def __post_init__(self):
        self.port = _Lazy(free_port, self.pinned_ports)
        self.lowport = _Lazy(free_port_below, self.pinned_ports)
        self.secret = _Lazy(lambda: _secrets.token_urlsafe(24))

    def render(self, text: str) -> str:
        try:
            return text.format(
                port=self.port,
                lowport=self.lowport,
                secret=self.secret,
                run_dir=self.run_dir,
                env_bin=self.env_bin,
                go_bin=self.go_bin,
                build_dir=self.build_dir,
                run_id=self.run_id,
            )
        except (KeyError, AttributeError, IndexError) as err:
            raise BenchError(f"stack definition references unknown placeholder {err} in {text!r}") from None

    def capture(self, name: str, value: str) -> None:
        self.secret._values[name] = value

    def secrets(self) -> list[str]:
        return list(self.secret.values().values())


@dataclass
class RenderedStack:
    """A stack definition bound to one run; steps render as they are taken."""

    defn: StackDef
    variant: str
    ctx: RenderContext

    @property
    def platform(self) -> str:
        return self.defn.platform

    @property
    def settings(self) -> dict[str, dict]:
        vdef = self.defn.variants[self.variant]
        return {k: s.model_dump() for k, s in {**self.defn.settings, **vdef.settings}.items()}

    def write_files(self) -> None:
        own = self.defn.variants[self.variant].files
        for f in [*(f for f in self.defn.files if f.path not in {v.path for v in own}), *own]:
            path = Path(self.ctx.render(f.path))
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold secrets
            with os.fdopen(fd, "w") as out:
                out.write(self.ctx.render(f.content))

    def steps(self) -> Iterator[ServiceSpec]:
        vdef = self.defn.variants[self.variant]
        for sdef in self.defn.services:
            if sdef.variants is not None and self.variant not in sdef.variants:
                continue
            yield self._spec(sdef, vdef)

    def endpoints(self) -> dict[str, str]:
        return {k: self.ctx.render(v) for k, v in self.defn.endpoints.items()}

    def worker_env(self) -> dict[str, str]:
        return {k: self.ctx.render(v) for k, v in self.defn.variants[self.variant].worker_env.items()}

    def secrets(self) -> list[str]:
        return self.ctx.secrets()

    def _spec(self, sdef: ServiceDef, vdef: VariantDef) -> ServiceSpec:
        ctx = self.ctx
        if sdef.builtin == "postgres":
            return postgres_service(sdef.name, ctx, [ctx.render(a) for a in sdef.args])
        env = {k: ctx.render(v) for k, v in {**self.defn.env, **sdef.env, **vdef.env.get(sdef.name, {})}.items()}
        ready = None
        if sdef.ready:
            r = sdef.ready
            ready = ReadyCheck(
                http=ctx.render(r.http) if r.http else None,
                tcp=int(ctx.render(r.tcp)) if r.tcp else None,
                command=tuple(ctx.render(c) for c in r.command) if r.command else None,
                timeout_s=r.timeout_s,
            )
        return ServiceSpec(
            name=sdef.name,
            role=sdef.role,
            command=[ctx.render(c) for c in [*sdef.command, *vdef.args.get(sdef.name, [])]],
            env=env,
            ready=ready,
            ports={
                p: int(ctx.render(("{lowport.%s}" if p in ctx.lowport.values() else "{port.%s}") % p))
                for p in sdef.ports
            },
            oneshot=sdef.kind == "oneshot",
            capture=sdef.capture,
            retry_s=sdef.retry_s,
            after=tuple(sdef.after) if sdef.after is not None else None,
        )


def render(defn: StackDef, variant: str, ctx: RenderContext) -> RenderedStack:
    if variant not in defn.variants:
        raise BenchError(f"{defn.platform} has no variant {variant!r}; known: {', '.join(defn.variants)}")
    return RenderedStack(defn, variant, ctx)
