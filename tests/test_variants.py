"""Every non-default stack variant (e.g. Prefect on PostgreSQL) runs for real and stops cleanly."""
import json

import pandas as pd
import pytest

from harness.driver import RunOptions, run
from harness.platforms import platforms
from harness.stack import definition

from .conftest import leftovers, require_runnable, small


def _variants():
    for platform, info in platforms().items():
        if info.has_native:
            d = definition.load(platform)
            for name in d.variants:
                if name != d.default_variant():
                    yield pytest.param(platform, name, marks=pytest.mark.integration, id=f"{platform}-{name}")


@pytest.mark.parametrize("platform,variant", list(_variants()))
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
