"""Every non-default stack variant that changes the services (e.g. Prefect on PostgreSQL) runs for real and
stops cleanly; one that changes settings alone is checked where it differs: its services' environment."""
import json

import pandas as pd
import pytest

from harness.driver import RunOptions, run
from harness.platforms import platforms
from harness.stack import definition

from .conftest import leftovers, require_runnable, small


def _steps(d: definition.StackDef, variant: str) -> list[str]:
    return [s.name for s in d.services if s.variants is None or variant in s.variants]


def _variants(shaped: bool):
    """Non-default variants that change the services (shaped) or only settings and environment."""
    for platform, info in platforms().items():
        if info.has_native:
            d = definition.load(platform)
            for name in d.variants:
                if name != d.default_variant() and (_steps(d, name) != _steps(d, d.default_variant())) == shaped:
                    yield pytest.param(platform, name, marks=pytest.mark.integration if shaped else [],
                                       id=f"{platform}-{name}")


@pytest.mark.parametrize("platform,variant", list(_variants(shaped=False)))
def test_a_settings_only_variant_renders_its_environment_into_its_services(tmp_path, platform, variant):
    """A variant that changes settings alone starts the default's services (run for real by the
    conformance suite); what it adds is its environment, which reaches each named service."""
    d = definition.load(platform)
    rendered = definition.render(d, variant, definition.RenderContext("r1", tmp_path, tmp_path, go_bin=tmp_path))
    specs = {s.name: s for s in rendered.steps()}
    assert d.variants[variant].env and d.variants[variant].settings, "a variant names what it changes"
    for service, env in d.variants[variant].env.items():
        for key, value in env.items():
            assert specs[service].env[key] == rendered.ctx.render(value), (service, key)
    assert set(d.variants[variant].settings) <= set(rendered.settings)


@pytest.mark.parametrize("platform,variant", list(_variants(shaped=True)))
def test_variant_runs(tmp_path, platform, variant):
    require_runnable(platform)
    path = run(RunOptions(platform, small("latency-probe", runs=2, repetitions=1), variant=variant,
                          results_root=tmp_path, keep_run_dir=False))
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error") or doc["repetitions"]
    assert doc["deployment"]["variant"] == variant and doc["deployment"]["default_variant"] is False
    res = pd.read_parquet(path / "resources.parquet")
    if variant == "postgres":
        assert "postgres" in doc["setup"]["services_ready_s"]
        assert "database" in set(res["role"])
        assert not leftovers("pgdata"), "postgres left running"
