"""Every non-default stack variant that changes the services (e.g. Prefect on PostgreSQL) runs for real and
stops cleanly; one that changes settings alone is checked where it differs: its services' environment."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.platforms import platforms
from harness.run.driver import RunOptions, run
from harness.stack import definition

from .conftest import leftovers, require_runnable, small


def _steps(d: definition.StackDef, variant: str) -> list[str]:
    return [s.name for s in d.services if s.variants is None or variant in s.variants]


def _variants(shaped: bool):
    """Non-default variants that start services no earlier variant starts (shaped: run for real), or
    the same services as the default or an earlier variant, with other settings (rendered only)."""
    for platform, info in platforms().items():
        if info.has_native:
            d = definition.load(platform)
            seen = [_steps(d, d.default_variant())]
            for name in d.variants:
                if name == d.default_variant():
                    continue
                new_shape = _steps(d, name) not in seen
                seen.append(_steps(d, name))
                if new_shape == shaped:
                    yield pytest.param(
                        platform, name, marks=pytest.mark.integration if shaped else [], id=f"{platform}-{name}"
                    )


@pytest.mark.parametrize("platform,variant", list(_variants(shaped=False)))
def test_a_settings_only_variant_renders_what_it_changes_into_its_services(tmp_path, platform, variant):
    """A variant that changes settings alone starts the services of the default or of an earlier
    variant (run for real by the conformance suite, test_variant_runs and the tuned sweeps); what it
    adds is its environment, its arguments and its files, which reach each named service."""
    d = definition.load(platform)
    vdef = d.variants[variant]
    rendered = definition.render(d, variant, definition.RenderContext("r1", tmp_path, tmp_path, go_bin=tmp_path))
    specs = {s.name: s for s in rendered.steps()}
    assert (vdef.env or vdef.args or vdef.files or vdef.worker_env) and vdef.settings, "a variant names what it changes"
    assert rendered.worker_env() == {k: rendered.ctx.render(v) for k, v in vdef.worker_env.items()}
    for service, env in vdef.env.items():
        for key, value in env.items():
            assert specs[service].env[key] == rendered.ctx.render(value), (service, key)
    for service, args in vdef.args.items():
        assert specs[service].command[-len(args) :] == [rendered.ctx.render(a) for a in args], service
    rendered.write_files()
    for f in vdef.files:
        assert Path(rendered.ctx.render(f.path)).read_text() == rendered.ctx.render(f.content)
    assert set(vdef.settings) <= set(rendered.settings)
    written = [
        *(v for e in vdef.env.values() for v in e.values()),
        *(a for al in vdef.args.values() for a in al),
        *(f.content for f in vdef.files),
        *vdef.worker_env.values(),
    ]
    # as recorded: a secret as ***, a port as <port>
    written = [re.sub(r"\{port\.\w+\}", "<port>", re.sub(r"\{secret\.\w+\}", "***", w)) for w in written]
    for key in vdef.settings:  # the recorded value is what the variant sets, wherever it sets it
        assert any(str(vdef.settings[key].value) in w for w in written), key


def test_a_variants_worker_env_reaches_the_harnesss_workers(tmp_path):
    """Prefect's runner poll is held by the harness's worker, not a stack service: the variant's
    worker_env is added to every worker the stack starts."""
    from harness.stack.native import NativeStack
    from harness.stack.service import ServiceSpec

    stack = NativeStack(definition.load("prefect"), "default-poll", tmp_path, "r1")
    stack.rendered = definition.render(stack.defn, "default-poll", definition.RenderContext("r1", tmp_path, tmp_path))
    started = []
    stack.group.start = started.append
    stack.start_worker(ServiceSpec("worker", ["true"], env={"BENCH_PREFECT_POLL_S": "1", "A": "b"}))
    assert started[0].env == {"BENCH_PREFECT_POLL_S": "10", "A": "b"}
    assert stack.settings()["runner.query_seconds"]["value"] == 10


def test_a_variant_naming_no_service_is_refused():
    with pytest.raises(ValueError, match="names no service wroker"):
        definition.StackDef.model_validate(
            {
                "platform": "t",
                "services": [{"name": "worker", "command": ["true"]}],
                "variants": {"v": {"args": {"wroker": ["-x"]}}},
            }
        )


@pytest.mark.parametrize("platform,variant", list(_variants(shaped=True)))
def test_variant_runs(tmp_path, platform, variant, run_processes):
    require_runnable(platform)
    missing = [n.package for n in definition.load(platform).variants[variant].system if not Path(n.path).exists()]
    if missing:  # .ci/run installs them; elsewhere the run would stop with the same advice
        pytest.skip(f"{platform} variant {variant} needs Debian packages {', '.join(missing)} (apt-get install)")
    path = run(
        RunOptions(
            platform,
            small("latency-probe", runs=2, repetitions=1),
            variant=variant,
            results_root=tmp_path,
            keep_run_dir=False,
        )
    )
    doc = json.loads((path / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error") or doc["repetitions"]
    assert doc["deployment"]["variant"] == variant and doc["deployment"]["default_variant"] is False
    res = pd.read_parquet(path / "resources.parquet")
    if variant == "postgres":
        assert "postgres" in doc["setup"]["services_ready_s"]
        assert "database" in set(res["role"])
        database = [p for p in run_processes if p.name == "postgres"]  # what this run started, by pid
        assert database, "the run recorded no postgres process"
        assert not leftovers(database), "postgres left running"
    if variant == "rabbitmq":  # Hatchet's production shape: the broker is the run's own, and stops with it
        assert doc["deployment"]["vendor_production"] is True
        assert {"epmd", "rabbitmq"} <= set(doc["setup"]["services_ready_s"])
        assert {"epmd", "rabbitmq"} <= set(res.loc[res["role"] == "queue", "service"])
        broker = [p for p in run_processes if p.name in ("epmd", "rabbitmq")]
        assert broker, "the run recorded no broker process"
        assert not leftovers(broker), "the broker (epmd or the Erlang VM) left running"
