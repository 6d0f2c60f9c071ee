"""Backend selection, and the external backend against a natively started stack."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest

from harness.cli import doctor
from harness.model.errors import BenchError
from harness.platforms import get
from harness.platforms.base import Requirement
from harness.stack import backends
from harness.stack.external import MetricsSampler, load_config, parse_process_metrics
from tests.conftest import bench, require_runnable

NO_ENGINE = lambda: "no Docker engine answers (test)"  # noqa: E731
ENGINE = lambda: None  # noqa: E731


def test_auto_picks_compose_only_where_an_engine_answers():
    assert backends.resolve("auto", get("prefect"), engine_check=ENGINE) == "compose"
    assert backends.resolve("auto", get("prefect"), engine_check=NO_ENGINE) == "native"
    assert backends.resolve("auto", get("temporal-dev"), engine_check=ENGINE) == "native", "no compose file"
    assert backends.resolve("auto", get("null"), engine_check=ENGINE) == "native"
    assert backends.resolve("auto", get("windmill"), engine_check=ENGINE) == "compose"


def test_each_impossible_backend_is_one_clear_line():
    with pytest.raises(
        BenchError,
        match="windmill runs only under compose, and no Docker engine answers.*"
        "natively: its server is published only as a container image",
    ):
        backends.resolve("auto", get("windmill"), engine_check=NO_ENGINE)
    with pytest.raises(BenchError, match="the compose backend needs a Docker engine"):
        backends.resolve("compose", get("prefect"), engine_check=NO_ENGINE)
    with pytest.raises(BenchError, match="temporal-dev has no compose stack"):
        backends.resolve("compose", get("temporal-dev"), engine_check=ENGINE)
    with pytest.raises(BenchError, match="kestra has no native stack: its distribution jar"):
        backends.resolve("native", get("kestra"), engine_check=ENGINE)
    with pytest.raises(BenchError, match="unknown backend 'kubernetes'"):
        backends.resolve("kubernetes", get("prefect"))
    with pytest.raises(BenchError, match="null runs in-process"):
        backends.resolve("external", get("null"))
    assert backends.resolve("external", get("windmill"), engine_check=NO_ENGINE) == "external"


def test_doctor_and_list_take_the_backend_from_resolve(monkeypatch):
    """bench doctor reports what resolve decides, so the two can never disagree."""
    calls = []
    real = backends.resolve

    def spy(requested, info, engine_check=None):
        calls.append((requested, info.name))
        return real(requested, info, engine_check)

    monkeypatch.setattr(backends, "resolve", spy)
    monkeypatch.setattr(doctor, "resolve", spy)
    assert doctor.check("prefect", "auto", ENGINE) == [Requirement(backends.DOCKER_ENGINE, True)]
    assert not doctor.runnable("windmill", "auto", NO_ENGINE)
    [missing] = doctor.check("windmill", "native", ENGINE)
    assert not missing.ok and "published only as a container image" in missing.fix
    assert calls == [("auto", "prefect"), ("auto", "windmill"), ("native", "windmill")]
    assert backends.available(get("kestra")) == ["compose"] and backends.available(get("null")) == ["native"]


def test_windmill_without_an_engine_says_so_in_one_line(tmp_path):
    done = bench("run", "windmill", "latency-probe", results=tmp_path)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "windmill runs only under compose" in lines[0], done.stderr
    assert not (tmp_path / "windmill").exists(), "nothing is recorded for a run that cannot start"


def test_external_config_names_what_is_missing(tmp_path):
    with pytest.raises(BenchError, match=r"BENCH_EXTERNAL_FRONTEND.*BENCH_EXTERNAL_NAMESPACE"):
        load_config(None, ["frontend", "namespace", "metrics"], "temporal", environ={})
    cfg = tmp_path / "x.yaml"
    cfg.write_text("endpoints: {frontend: '127.0.0.1:1'}\nmetricz: {}\n")
    with pytest.raises(BenchError, match=r"x.yaml: unknown key .metricz."):
        load_config(cfg, ["frontend"], "temporal", environ={})
    cfg.write_text("")  # an empty file is no settings: the environment names the endpoints
    assert load_config(cfg, ["frontend"], "temporal", environ={"BENCH_EXTERNAL_FRONTEND": "h:1"}).endpoints == {
        "frontend": "h:1"
    }
    with pytest.raises(BenchError, match=r"^external config .*missing.yaml: cannot read: "):
        load_config(tmp_path / "missing.yaml", ["frontend"], "temporal", environ={})
    got = load_config(
        None,
        ["frontend", "namespace"],
        "temporal",
        environ={
            "BENCH_EXTERNAL_FRONTEND": "h:1",
            "BENCH_EXTERNAL_NAMESPACE": "ns",
            "BENCH_EXTERNAL_METRICS_SERVER": "http://h/metrics",
        },
    )
    assert got.endpoints == {"frontend": "h:1", "namespace": "ns"} and got.metrics == {"server": "http://h/metrics"}


def test_metrics_sampler_reads_a_real_prometheus_exposition():
    from prometheus_client import generate_latest  # this process's own process collector

    cpu, rss = parse_process_metrics(generate_latest().decode())
    assert cpu > 0 and rss > 10 * 2**20

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = generate_latest()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sampler = MetricsSampler(
            {"server": f"http://127.0.0.1:{server.server_port}/metrics", "gone": "http://127.0.0.1:9/metrics"}
        )
        sampler.scrape_once()
        sum(i * i for i in range(300_000))  # some CPU between two scrapes
        sampler.scrape_once()
    finally:
        server.shutdown()
    rows = sampler.take_rows()
    assert [r["service"] for r in rows] == ["server", "server"]
    assert rows[0]["cpu_pct"] is None and rows[1]["cpu_pct"] > 0 and rows[1]["source"] == "prometheus"
    assert "gone" in sampler.errors


@pytest.mark.integration
def test_external_backend_measures_a_stack_it_did_not_start(tmp_path):
    require_runnable("prefect")
    up = bench("up", "prefect", results=tmp_path, timeout=180)
    assert up.returncode == 0, up.stderr
    try:
        endpoints = dict(re.findall(r"^(\w+): (\S+)$", up.stdout, re.M))
        cfg = tmp_path / "external.yaml"
        cfg.write_text(
            json.dumps({"endpoints": {"api_url": endpoints["api_url"]}, "metrics": {"server": endpoints["metrics"]}})
        )
        done = bench(
            "run",
            "prefect",
            "latency-probe",
            "--backend",
            "external",
            "--external-config",
            str(cfg),
            "--runs",
            "2",
            "--warmup",
            "0",
            "--repetitions",
            "1",
            results=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    finally:
        assert bench("down", "prefect", results=tmp_path).returncode == 0
    run_dir = next((tmp_path / "prefect").iterdir())
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "complete" and doc["backend"] == "external" and doc["deployment"]["kind"] == "external"
    assert doc["setup"]["start_to_ready_s"] is None, "no setup is measured for someone else's deployment"
    res = pd.read_parquet(run_dir / "resources.parquet")
    server = res[res["service"] == "server"]
    assert (server["source"] == "prometheus").all() and (server["rss_bytes"] > 10 * 2**20).all()
    assert set(res[res["role"] == "worker"]["source"]) == {"procfs"}, "the harness's own worker is sampled as always"
