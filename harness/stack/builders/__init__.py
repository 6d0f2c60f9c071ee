"""Our build recipes for servers built from a source checkout (install.source in a native.yaml).

Each module here is one recipe and provides:
- RECIPE: a string changed whenever the recipe changes (part of the cache key),
- toolchain() -> dict[str, str]: the tools and versions the build uses (part of the cache key),
- build(spec, source, root, step) -> dict[str, str]: builds from the checkout at `source` into the
  cache entry `root`, calling step(text) as it moves on (the progress display), and returns the
  versions it built (recorded with every run). It raises BenchError with one line when it fails.
Nothing here copies vendor code: recipes generate their build files at build time.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def recipe_module(builder: str) -> ModuleType:
    # lazy: a recipe's module is imported only for the platform whose stack names it
    return importlib.import_module(f"harness.stack.builders.{builder}")
