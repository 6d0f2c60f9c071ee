"""Which backend brings a platform up: native processes, Docker Compose, or someone else's deployment."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import BenchError
from .paths import STACKS_DIR
from .stack import compose, definition

BACKENDS = {
    "auto": "compose where a Docker engine answers, native otherwise",
    "native": "services as local processes from registry packages",
    "compose": "the vendor's official images under Docker Compose (needs a Docker engine)",
    "external": "an already-running deployment; endpoints from --external-config or BENCH_EXTERNAL_*",
}


def has_native(stack: str | None) -> bool:
    return bool(stack) and (STACKS_DIR / stack / "native.yaml").is_file()


def has_compose(stack: str | None) -> bool:
    return bool(stack) and compose.compose_path(stack).is_file()


def resolve(requested: str, platform: str, stack: str | None, native_missing_why: str | None = None,
            engine_check=None) -> str:
    """The backend a run will use, or one line saying why the requested one cannot be."""
    engine_check = engine_check or compose.engine_answers
    if requested not in BACKENDS:
        raise BenchError(f"unknown backend {requested!r}; known: {', '.join(BACKENDS)}")
    if stack is None:  # in-process platforms (null)
        if requested not in ("auto", "native"):
            raise BenchError(f"{platform} runs in-process; it has no {requested} backend")
        return "native"
    if requested == "auto":
        no_engine = engine_check() if has_compose(stack) else "no compose stack"
        if no_engine is None:
            return "compose"
        if not has_native(stack):
            raise BenchError(f"{platform} runs only under compose, and {no_engine}"
                             + (f"; natively: {native_missing_why}" if native_missing_why else ""))
        return "native"
    if requested == "native" and not has_native(stack):
        raise BenchError(f"{platform} has no native stack: {native_missing_why or 'stacks/' + stack + '/native.yaml is missing'}")
    if requested == "compose":
        if not has_compose(stack):
            raise BenchError(f"{platform} has no compose stack (stacks/{stack}/compose.yaml is missing)")
        no_engine = engine_check()
        if no_engine:
            raise BenchError(f"the compose backend needs a Docker engine: {no_engine}")
    return requested


@dataclass
class StackFiles:
    """The definitions a run needs: the native one, the compose one, or both (for endpoint names)."""
    native: definition.StackDef | None
    compose: compose.ComposeDef | None

    def endpoint_names(self) -> list[str]:
        if self.native:
            return list(self.native.endpoints)
        return list(self.compose.bench.endpoints) if self.compose else []

    def worker_python(self) -> list[str]:
        if self.compose and self.compose.bench.worker_python:
            return self.compose.bench.worker_python
        return self.native.install.python if self.native else []


def stack_files(stack: str | None, backend: str) -> StackFiles:
    if stack is None:
        return StackFiles(None, None)
    native = definition.load(stack) if has_native(stack) else None
    composed = compose.load(stack) if backend == "compose" or (native is None and has_compose(stack)) else None
    return StackFiles(native, composed)
