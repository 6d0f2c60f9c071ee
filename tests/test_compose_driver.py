"""The driver over the compose backend, with the engine faked at the library boundary (see
test_compose_backend): phases timed, `down -v` on every exit path, a failed `down` reported and left
in the ledger."""

import json
from pathlib import Path

import pytest

from harness.model.errors import BenchError, RunInterrupted
from harness.stack import compose
from tests.test_compose_backend import HEALTHY, FakeEngine, FakeWhales


@pytest.fixture
def fake_engine(monkeypatch, tmp_path):
    import harness.run.ledger

    monkeypatch.setattr(harness.run.ledger, "STATE_DIR", tmp_path / "state")  # not the checkout's .bench
    plan = {
        "timelines": {
            "db": HEALTHY,
            "windmill_server": HEALTHY,
            "windmill_worker": HEALTHY,
            "windmill_worker_native": HEALTHY,
        }
    }
    engine = FakeEngine()
    whales = FakeWhales(engine, plan)
    monkeypatch.setattr(compose, "docker_unavailable", lambda timeout_s=3.0: None)
    monkeypatch.setattr(compose, "make_whales", lambda *a: whales)
    monkeypatch.setattr(compose, "make_engine", lambda: engine)
    return whales, plan


def _windmill_run(tmp_path):
    from harness.run.driver import RunOptions, run
    from tests.conftest import small

    return run(RunOptions("windmill", small("latency-probe", runs=1), backend="compose", results_root=tmp_path))


def test_driver_times_pull_and_start_and_always_runs_down(tmp_path, fake_engine):
    whales, _ = fake_engine
    # Nothing answers on the published port, so the adapter's first request fails: a failed run.
    with pytest.raises(BenchError, match=r"windmill: ConnectError") as err:
        _windmill_run(tmp_path)
    assert "\n" not in str(err.value)
    assert [c[0] for c in whales.calls] == ["pull", "up", "down"]
    run_dir = next((tmp_path / "windmill").iterdir())
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "failed" and doc["backend"] == "compose"
    setup = doc["setup"]
    assert setup["pull_s"] >= 0 and setup["start_to_ready_s"] > 0
    assert setup["footprint_bytes"] == 2 * 100 * 2**20, "two images, 100 MiB each"
    assert set(setup["services_ready_s"]) == {"db", "windmill_server", "windmill_worker", "windmill_worker_native"}
    assert [p["name"] for p in doc["phases"]] == ["pull", "start"]
    assert doc["deployment"]["kind"] == "production" and doc["deployment"]["backend"] == "compose"
    secret_env = Path(json.dumps(doc))
    assert "BENCH_SECRET" not in str(secret_env)


def test_ctrl_c_during_start_still_runs_down(tmp_path, fake_engine):
    whales, plan = fake_engine
    plan["up_raises"] = KeyboardInterrupt()
    with pytest.raises(RunInterrupted):
        _windmill_run(tmp_path)
    assert [c[0] for c in whales.calls] == ["pull", "up", "down"]
    doc = json.loads((next((tmp_path / "windmill").iterdir()) / "run.json").read_text())
    assert doc["status"] == "interrupted"


def test_a_failed_down_is_reported_not_swallowed(tmp_path, fake_engine, monkeypatch):
    whales, _ = fake_engine

    def down_fails(**kw):
        whales.calls.append(("down", kw))
        raise RuntimeError("Cannot connect to the Docker daemon")

    monkeypatch.setattr(whales.compose, "down", down_fails)
    with pytest.raises(BenchError, match="windmill: ConnectError"):
        _windmill_run(tmp_path)
    doc = json.loads((next((tmp_path / "windmill").iterdir()) / "run.json").read_text())
    assert doc["stop_error"] == "compose down -v: Cannot connect to the Docker daemon"
    [kept] = (tmp_path / "state" / "runs").glob("*.json")  # left for the next bench command
    assert json.loads(kept.read_text())["compose_project"].startswith("bench-")
