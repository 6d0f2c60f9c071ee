"""Rate sweeps' submission paths: each platform's HTTP call as its adapter describes it, worker
replicas, and the null platform's HTTP endpoint for real (no Locust needed)."""

import json
import urllib.request

import pytest

from harness.model import spec
from harness.model.errors import BenchError
from harness.platforms.base import Deployment, deployable, replicas
from harness.platforms.null import NullAdapter
from harness.platforms.windmill import WindmillAdapter
from harness.stack.service import ReadyCheck, ServiceSpec


def test_worker_replicas_have_their_own_names_and_ready_files():
    base = ServiceSpec(
        name="worker",
        command=["x"],
        env={"BENCH_READY_FILE": "/r/w.ready"},
        role="worker",
        ready=ReadyCheck(file="/r/w.ready"),
    )
    got = replicas(base, 3)
    assert [s.name for s in got] == ["worker", "worker-2", "worker-3"]
    assert [s.ready.file for s in got] == ["/r/w.ready", "/r/w.ready-2", "/r/w.ready-3"]
    assert [s.env["BENCH_READY_FILE"] for s in got] == [s.ready.file for s in got]


def test_a_platform_without_http_submission_says_so(tmp_path):
    with pytest.raises(BenchError, match="^windmill has no HTTP submission path$"):
        WindmillAdapter().http_target(None)


def others_have_no_retry_policy(dep) -> bool:
    """Only Prefect's client retries busy answers; the others' targets have no policy."""
    from types import SimpleNamespace

    from harness.platforms.hatchet import HatchetAdapter
    from harness.platforms.temporal import TemporalDevAdapter

    temporal, hatchet = TemporalDevAdapter(), HatchetAdapter()
    temporal._queue = "q"
    hatchet._name, hatchet._hatchet = "n", SimpleNamespace(config=SimpleNamespace(tenant_id="t" * 36))
    return temporal.http_target(dep).retry is None and hatchet.http_target(dep).retry is None


def test_http_targets_of_the_real_platforms_are_their_documented_calls(tmp_path):
    """Built from a deployment's endpoints alone; what they do is the integration tests' business."""
    from types import SimpleNamespace

    from harness.platforms.hatchet import HatchetAdapter
    from harness.platforms.prefect import PrefectAdapter
    from harness.platforms.temporal import TemporalDevAdapter

    wl = deployable(spec.load("rate-sweep-fib20"))
    ep = {
        "api_url": "http://127.0.0.1:4200/api",
        "frontend": "127.0.0.1:7233",
        "namespace": "bench-r1",
        "http": "http://127.0.0.1:7243",
        "api": "http://127.0.0.1:8080",
        "token": "s3cret",
        "grpc": "127.0.0.1:7077",
    }
    dep = Deployment("r1", wl, tmp_path, tmp_path, tmp_path, ep)
    run = {"workflow_id": "{workflow_id}", "shape": "chain", "tasks": 1, "op": "fib", "n": 20}
    prefect = PrefectAdapter()
    prefect._deployment_id = "d-1"
    t = prefect.http_target(dep)
    assert (t.base_url, t.path, t.body) == (
        "http://127.0.0.1:4200",
        "/api/deployments/d-1/create_flow_run",
        {"name": "{workflow_id}", "idempotency_key": "{workflow_id}", "parameters": run},
    )
    assert (
        t.retry.statuses == {429, 502, 503} and t.retry.max_retries == 5 and t.retry.transport_errors
    )  # as Prefect's own client
    assert others_have_no_retry_policy(dep)
    temporal = TemporalDevAdapter()
    temporal._queue = "bench-r1"
    t = temporal.http_target(dep)
    assert (t.base_url, t.path) == ("http://127.0.0.1:7243", "/api/v1/namespaces/bench-r1/workflows/{workflow_id}")
    assert t.body["input"] == [{**run, "task_timeout_s": wl.timeout_s}] and t.body["taskQueue"] == {"name": "bench-r1"}
    with pytest.raises(BenchError, match="names no 'http' endpoint"):
        temporal.http_target(Deployment("r1", wl, tmp_path, tmp_path, tmp_path, {"namespace": "n"}))
    hatchet = HatchetAdapter()
    hatchet._name, hatchet._hatchet = "bench-r1", SimpleNamespace(config=SimpleNamespace(tenant_id="t" * 36))
    t = hatchet.http_target(dep)
    assert t.path == f"/api/v1/stable/tenants/{'t' * 36}/workflow-runs/trigger"
    assert t.headers == {"Authorization": "Bearer s3cret"} and t.body["workflowName"] == "bench-r1"
    assert t.body["input"] == {"workflow_id": "{workflow_id}", "op": "fib", "n": 20}


def test_null_http_endpoint_enqueues_real_runs(tmp_path):
    from harness.load.schedule import RequestTemplate

    (tmp_path / "stamps").mkdir()
    wl = deployable(spec.load("rate-sweep-noop"))
    dep = Deployment("r1", wl, tmp_path, tmp_path / "stamps", tmp_path, {})
    adapter = NullAdapter()
    adapter.connect(dep)
    adapter.deploy(dep)
    try:
        target = adapter.http_target(dep)
        template = RequestTemplate(target, "bench-r1-step-1")
        for i in range(3):
            req = urllib.request.Request(
                target.base_url + template.path(i),
                data=template.body(i),
                headers=template.headers,
                method=target.method,
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status == 202
        bad = urllib.request.Request(target.base_url + "/runs/x", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(bad, timeout=5)
        for i in range(3):
            handle = adapter.lookup(f"bench-r1-step-1-{i}")
            assert adapter.wait(handle, 5) == "completed"
    finally:
        adapter.close()
    stamps = [json.loads(line) for f in (tmp_path / "stamps").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(s["workflow_id"] for s in stamps) == [f"bench-r1-step-1-{i}" for i in range(3)]
