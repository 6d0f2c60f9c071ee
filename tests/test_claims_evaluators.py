"""Every evaluator kind on synthetic run records, the rules every verdict keeps (never on a failed run,
never a deployment claim on a development server), and `bench claims` itself."""

import json

import pytest
from typer.testing import CliRunner

from harness import claims
from harness.claims import evaluators, model, table
from harness.cli.app import app
from harness.model.errors import BenchError
from harness.model.record import LatencySummary, LoadResult, ResourceSummaryRow, Setting, Spread

from .record_factory import around, empty_summary, make_record, runs_of

FILE = """
document: seed.md
reasons: {judgement: a judgement of quality that no figure can contradict}
planned_platforms: {nosuch: "a platform to come"}
planned_workloads: {fault-kill: "the worker-kill scenario", rate-sweep-noop: "the sweep"}
claims:
- id: tp
  platforms: [hatchet]
  section: s
  quote: thousands per second
  needs:
    measures:
    - {metric: load.max_sustainable_per_s, workload: rate-sweep-noop}
    - {metric: throughput_tasks_per_s, workload: fanout-100-noop}
  predicate: {kind: threshold, op: ">=", value: 1000, source: "seed: thousands"}
- id: deployed-latency
  platforms: [hatchet]
  section: s
  quote: sub-ms as deployed
  needs: {deployment: production, measures: [{metric: submit_to_first_start.p50_ms, workload: latency-probe}]}
  predicate: {kind: threshold, op: "<", value: 1, source: "seed: sub-ms"}
- id: faster
  platforms: [prefect]
  section: s
  quote: prefect's throughput is below hatchet's
  needs: {measures: [{metric: throughput_tasks_per_s, workload: fanout-100-noop}]}
  predicate: {kind: ranking, levels: {prefect: 1, hatchet: 2}}
- id: ratio
  platforms: [hatchet]
  section: s
  quote: 10x faster than Prefect
  needs: {measures: [{metric: workflow_e2e.p50_ms, workload: chain-40x-fib10}]}
  predicate: {kind: ratio, baseline: prefect, at_least: 10, source: "seed: 10x"}
- id: ratio-later
  platforms: [hatchet]
  section: s
  quote: 13x faster than a platform to come
  needs: {measures: [{metric: workflow_e2e.p50_ms, workload: chain-40x-fib10}]}
  predicate: {kind: ratio, baseline: nosuch, at_least: 13, source: "seed: 13x"}
- id: kill
  platforms: [hatchet]
  section: s
  quote: automatic task reassignment on worker failure
  needs: {fault: worker-kill, measures: [{workload: fault-kill}]}
  predicate: {kind: fault, behaviours: [unaffected, reassigned],
      expect: [{metric: fault.tasks_lost, op: "==", value: 0}], source: "operationalisation: none lost"}
- {id: prom, platforms: [prefect], section: s, quote: Prometheus metrics export,
    predicate: {kind: capability, endpoint: metrics, setting: PREFECT_SERVER_METRICS_ENABLED}}
- {id: temporal-prom, platforms: [temporal], section: s, quote: metrics,
    predicate: {kind: capability, endpoint: metrics}}
- {id: temporal-prom-deployed, platforms: [temporal], section: s, quote: metrics, needs: {deployment: production},
    predicate: {kind: capability, endpoint: metrics}}
- {id: opinion, platforms: [temporal], section: s, quote: most mature,
    predicate: {kind: not_measurable, reason: judgement}}
"""


@pytest.fixture(scope="module")
def parsed():
    return model.parse(FILE, "test-claims.yaml")


def spread(median, lo, hi, cv=0.02):
    return Spread(median=median, min=lo, max=hi, n=5, cv=cv, unstable=cv > 0.1)


def lat(p50):
    return LatencySummary(p50_ms=p50, p90_ms=p50, p99_ms=p50, min_ms=p50, max_ms=p50, count=50, negatives=0)


def run(platform, workload, kind="production", status="complete", **fields):
    summary = fields.pop("summary", None) or empty_summary(**fields.pop("summary_fields", {}))
    return make_record(
        platform, f"{platform}-{workload}", workload, kind=kind, status=status, summary=summary, **fields
    )


def judge(parsed, *records, incomplete=()):
    """Verdicts over the records; several of one (platform, workload) are its runs, the newest first."""
    series = {}
    for r in records:
        series.setdefault((r.platform, r.workload.name), []).append(r)
    cells = {k: rs[0] for k, rs in series.items()}
    return {v.id: v for v in claims.evaluate(cells, incomplete, parsed, series)}


def newest(records):
    """The newest run of each cell alone."""
    seen = {}
    for r in records:
        seen.setdefault((r.platform, r.workload.name), r)
    return list(seen.values())


def fanout(platform, median, lo, hi, cv=0.02):
    return run(platform, "fanout-100-noop", summary_fields={"throughput_tasks_per_s": spread(median, lo, hi, cv)})


def fanouts(platform, medians, half_range=20):
    """Runs of the fan-out, one per median, each with its own spread over its repetitions."""
    return runs_of(lambda m: fanout(platform, m, m - half_range, m + half_range), medians)


def sweep(max_per_s, lower_bound=False):
    load = LoadResult(
        load_workers=1,
        worker_processes=1,
        worker_slots=100,
        thresholds={"p99_ms": 5000},
        max_sustainable_per_s=max_per_s,
        max_sustainable_is_lower_bound=lower_bound,
        stop_reason="the generator's ceiling" if lower_bound else "saturated",
        cpu_ms_per_task=2.0,
    )
    return run("hatchet", "rate-sweep-noop", load=load)


# -- threshold -------------------------------------------------------------------------------------
def test_threshold_prefers_the_load_sweep_and_falls_back_saying_so(parsed):
    sweeps, fans = runs_of(sweep, around(2500)), fanouts("hatchet", around(300))
    v = judge(parsed, *sweeps, *fans)["tp"]
    assert v.verdict == "supported" and "maximum sustainable rate 2500 runs/s" in v.evidence.text
    assert v.runs == [f"hatchet/hatchet-rate-sweep-noop-{i}" for i in range(5)]
    one = judge(parsed, *newest([*sweeps, *fans]))["tp"]
    assert one.verdict == "inconclusive" and one.evidence.n == 1 and one.evidence.interval is None
    assert "needs 4 more runs of hatchet (rate-sweep-noop)" in one.evidence.decides
    v = judge(parsed, *fans)["tp"]
    assert v.verdict == "contradicted" and "median 300 tasks/s [280–320] over 5 repetitions" in v.evidence.text
    assert "over 5 runs: median 300 tasks/s, 95% [" in v.evidence.text
    assert "make bench PLATFORM=hatchet WORKLOAD=rate-sweep-noop" in v.missing
    doc = json.loads(v.model_dump_json())["evidence"]
    assert doc["n"] == 5 and doc["threshold"] == 1000 and doc["threshold_source"] == "seed: thousands"
    assert len(doc["interval"]) == 2 and doc["interval"][1] < 1000 and doc["conditions"]["cores"] == "2"


def test_threshold_cannot_decide_on_noise_or_on_a_lower_bound(parsed):
    v = judge(parsed, *fanouts("hatchet", [1000, 600, 1400, 800, 1200], half_range=100))["tp"]
    assert v.verdict == "inconclusive" and v.evidence.n == 5
    lo, hi = v.evidence.interval
    assert lo < 1000 < hi and "more runs: the 95% interval spans the threshold" == v.evidence.decides
    v = judge(parsed, *runs_of(lambda m: sweep(m, lower_bound=True), around(500)))["tp"]
    assert v.verdict == "inconclusive" and "the figure is a lower bound, below the claim" in v.evidence.text
    assert "saturation" in v.evidence.decides


def test_a_deployment_claim_on_a_development_server_is_inconclusive(parsed):
    def probe(p50, kind):
        return run(
            "hatchet", "latency-probe", kind=kind, summary_fields={"latency_ms": {"submit_to_first_start": lat(p50)}}
        )

    dev = runs_of(lambda p50: probe(p50, "development"), around(0.5))
    v = judge(parsed, *dev)["deployed-latency"]  # five runs, all of a development server
    assert v.verdict == "inconclusive" and "not the deployment the claim describes" in v.evidence.text
    assert v.evidence.decides == "a run of a production-shaped hatchet stack"
    prod = runs_of(lambda p50: probe(p50, "production"), around(0.5))
    v = judge(parsed, *prod)["deployed-latency"]
    assert v.verdict == "supported" and v.evidence.threshold_source == "seed: sub-ms"


def test_a_failed_run_decides_nothing_and_is_named(parsed):
    failed = run(
        "hatchet",
        "latency-probe",
        status="failed",
        error="worker died",
        summary_fields={"latency_ms": {"submit_to_first_start": lat(0.5)}},
    )
    v = judge(parsed, failed)["deployed-latency"]
    assert v.verdict == "not measured" and "hatchet-latency-probe failed: worker died" in v.missing


# -- ranking ---------------------------------------------------------------------------------------
def test_ranking_orders_levels_and_will_not_decide_overlapping_noise(parsed):
    hatchet = fanouts("hatchet", around(300))
    ok = [*fanouts("prefect", around(100)), *hatchet]
    v = judge(parsed, *ok)["faster"]
    assert v.verdict == "supported" and v.evidence.n == 5
    assert list(v.evidence.p_values) == ["prefect<hatchet"] and v.evidence.p_values["prefect<hatchet"] < 0.05
    one = judge(parsed, *newest(ok))["faster"]
    assert one.verdict == "inconclusive" and "needs 4 more runs of prefect" in one.evidence.decides
    assert "needs 4 more runs of hatchet" in one.evidence.decides and not one.evidence.p_values
    v = judge(parsed, *fanouts("prefect", around(400)), *hatchet)["faster"]
    assert v.verdict == "contradicted" and "out of order: prefect not below hatchet (p=" in v.evidence.text
    v = judge(parsed, *fanouts("prefect", [250, 100, 400, 300, 200]), *hatchet)["faster"]
    assert v.verdict == "inconclusive" and "not significant: prefect vs hatchet (p=" in v.evidence.text
    assert v.evidence.p_values["prefect<hatchet"] >= 0.05 and v.evidence.decides == "more runs of hatchet, prefect"
    assert judge(parsed, *fanouts("prefect", around(100)))["faster"].verdict == "not measured"


# -- ratio -----------------------------------------------------------------------------------------
def chain(platform, e2e_ms):
    return run(platform, "chain-40x-fib10", summary_fields={"latency_ms": {"workflow_e2e": lat(e2e_ms)}})


def chains(platform, e2e_ms):
    return runs_of(lambda ms: chain(platform, ms), around(e2e_ms))


def test_ratio_between_platforms(parsed):
    both = [*chains("hatchet", 10), *chains("prefect", 200)]
    v = judge(parsed, *both)["ratio"]
    assert v.verdict == "supported" and "hatchet 20.0x, 95% [" in v.evidence.text
    assert "better (medians over runs); claimed at least 10x" in v.evidence.text
    lo, hi = v.evidence.interval
    assert 10 < lo <= 20 <= hi and v.evidence.value == 20 and v.evidence.threshold_source == "seed: 10x"
    one = judge(parsed, *newest(both))["ratio"]
    assert one.verdict == "inconclusive" and "needs 4 more runs of hatchet" in one.evidence.decides
    assert "needs 4 more runs of prefect" in one.evidence.decides
    v = judge(parsed, *chains("hatchet", 50), *chains("prefect", 200))["ratio"]
    assert v.verdict == "contradicted" and v.evidence.interval[1] < 10
    later = judge(parsed, chain("hatchet", 10))["ratio-later"]
    assert later.verdict == "not measured"
    assert "nosuch is not a platform of this harness yet (a platform to come)" in later.missing


# -- capability probe ------------------------------------------------------------------------------
def test_capability_from_the_endpoints_a_run_recorded(parsed):
    setting = Setting(value=True, default=False, why="serves /api/metrics")
    with_metrics = run(
        "prefect",
        "idle-60s",
        endpoints={"metrics": "http://127.0.0.1:4200/api/metrics"},
        settings={"PREFECT_SERVER_METRICS_ENABLED": setting},
    )
    v = judge(parsed, with_metrics)["prom"]
    assert (
        v.verdict == "supported" and "enabled by PREFECT_SERVER_METRICS_ENABLED=True (default False)" in v.evidence.text
    )
    assert v.evidence.n == 1 and v.evidence.value == 1 and "(1 of 1 runs recorded it)" in v.evidence.text
    v = judge(parsed, run("prefect", "idle-60s"))["prom"]
    assert v.verdict == "not measured" and "recorded a 'metrics' endpoint" in v.missing


def test_a_stand_in_speaks_to_a_capability_but_not_to_a_deployment(parsed):
    dev = run("temporal-dev", "idle-60s", kind="development", endpoints={"metrics": "http://127.0.0.1:9/metrics"})
    v = judge(parsed, dev)
    assert v["temporal-prom"].verdict == "supported" and "temporal-dev run" in v["temporal-prom"].evidence.text
    assert v["temporal-prom-deployed"].verdict == "not measured"


# -- not measurable, errors, counts, the command ---------------------------------------------------
def test_not_measurable_says_why(parsed):
    v = judge(parsed)["opinion"]
    assert (v.verdict, v.measurable, v.evidence.text) == (
        "not measurable",
        False,
        "a judgement of quality that no figure can contradict",
    )
    c = claims.counts(list(judge(parsed).values()))
    assert (c.document, c.measurable, c.with_verdict) == (10, 9, 0)


def test_an_evaluator_bug_is_one_line_naming_the_claim(parsed, monkeypatch):
    def broken(*_):
        raise KeyError("p50")

    monkeypatch.setitem(evaluators.EVALUATORS, "ratio", broken)
    v = judge(parsed)
    assert v["ratio"].verdict == "error" and v["ratio"].evidence.text == "KeyError: 'p50'"
    assert (
        str(table.errors(list(v.values()))) == "claim ratio could not be evaluated: KeyError: 'p50' (and 1 more claims)"
    )


@pytest.fixture()
def claims_file(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(FILE)
    return path


def test_bench_claims_prints_the_table_and_the_counts(tmp_path, claims_file):
    runner = CliRunner()
    args = ["claims", "--results", str(tmp_path), "--claims-file", str(claims_file)]
    done = runner.invoke(app, args, catch_exceptions=False)
    assert done.exit_code == 0
    summary = "10 claims in the document, 9 measurable, 0 with a verdict (9 not measured, 1 not measurable)"
    assert summary in " ".join(done.output.split())  # the summary folds at 80 columns
    doc = json.loads(runner.invoke(app, [*args, "--format", "json"]).output)
    assert doc["counts"]["measurable"] == 9 and doc["claims"][0]["id"] == "tp"
    md = runner.invoke(app, [*args, "--format", "markdown"]).output
    assert "| thousands per second (tp) | hatchet | **not measured** " in md
    bad = runner.invoke(app, [*args, "--format", "html"])
    assert bad.exit_code == 2  # a usage error, refused before any work


def test_bench_claims_exits_non_zero_naming_a_claim_it_could_not_evaluate(tmp_path, claims_file, monkeypatch):
    monkeypatch.setitem(evaluators.EVALUATORS, "capability", lambda *_: 1 / 0)
    done = CliRunner().invoke(app, ["claims", "--results", str(tmp_path), "--claims-file", str(claims_file)])
    assert isinstance(done.exception, BenchError)
    assert str(done.exception).startswith("claim prom could not be evaluated: ZeroDivisionError")


def test_bench_claims_refuses_a_missing_results_folder(tmp_path, claims_file):
    done = CliRunner().invoke(app, ["claims", "--results", str(tmp_path / "nope"), "--claims-file", str(claims_file)])
    assert str(done.exception) == f"{tmp_path / 'nope'}: no such results folder"


def test_idle_memory_leaves_the_harness_out():
    rows = [
        ResourceSummaryRow(kind="idle", service="server", role="server", rss_mean_mb=100.0, samples=3),
        ResourceSummaryRow(kind="idle", service="harness", role="harness", rss_mean_mb=999.0, samples=3),
    ]
    record = run("prefect", "idle-60s", summary_fields={"resources": rows})
    assert claims.Facts({("prefect", "idle-60s"): record}).idle_memory_mb("prefect") == 100.0


def test_the_latest_unfinished_run_is_the_one_named(parsed):
    from types import SimpleNamespace

    old = SimpleNamespace(
        platform="hatchet", workload="latency-probe", run_id="20260101T000000Z-a", status="failed", error="old cause"
    )
    new = SimpleNamespace(
        platform="hatchet", workload="latency-probe", run_id="20260102T000000Z-b", status="interrupted", error=""
    )
    v = judge(parsed, incomplete=[new, old])["deployed-latency"]
    assert "(the latest run 20260102T000000Z-b interrupted)" in v.missing and "old cause" not in v.missing
