"""Claim verdicts follow from the numbers, and say so when a platform was not measured."""

from harness import claims
from harness.model.record import LatencySummary, ResourceSummaryRow, Setup, Spread

from .load_factory import rates
from .record_factory import around, empty_summary, make_record, runs_of


def row(role, rss, pss=None):
    return ResourceSummaryRow(kind="idle", service=role, role=role, rss_mean_mb=rss, pss_mean_mb=pss, samples=300)


def cell(
    platform,
    workload,
    *,
    p50=None,
    throughput=None,
    idle_rss=None,
    services=2,
    deployment="production",
    pss=False,
    status="complete",
):
    resources = (
        []
        if idle_rss is None
        else [
            row("server", idle_rss * 0.75, idle_rss * 0.75 if pss else None),
            row("worker", idle_rss * 0.25, float("nan")),  # PSS not sampled: RSS counts instead
            row("harness", 9999.0),  # the driver is never the platform's
        ]
    )
    latency = {
        "submit_to_first_start": None
        if p50 is None
        else LatencySummary(
            p50_ms=p50, p90_ms=p50 * 1.5, p99_ms=p50 * 2, min_ms=p50 / 2, max_ms=p50 * 3, count=100, negatives=0
        ),
        "engine_queue_to_start": None,
    }
    tp = (
        None
        if throughput is None
        else Spread(median=throughput, min=throughput * 0.9, max=throughput * 1.1, n=5, cv=0.01, unstable=False)
    )
    return make_record(
        platform,
        f"{platform}-{workload}",
        workload,
        kind=deployment,
        description="x",
        status=status,
        setup=Setup(long_running_services=services, start_to_ready_s=1.0),
        summary=empty_summary(latency_ms=latency, resources=resources, throughput_tasks_per_s=tp),
    )


def verdicts(cells):
    return {v.id: v for v in claims.evaluate(cells)}


def runs(platform, workload, field, values, **kw):
    """One cell's runs, newest first: `field` (p50, throughput, idle_rss) takes each of `values`."""
    return runs_of(lambda x: cell(platform, workload, **{field: x}, **kw), values)


def judged(*groups):
    """Verdicts over cells of several runs each (a group: one cell's runs, newest first)."""
    series = {(g[0].platform, g[0].workload.name): g for g in groups}
    return {v.id: v for v in claims.evaluate({k: g[0] for k, g in series.items()}, series=series)}


def latest_only(*groups):
    """The same cells with their newest run alone."""
    return judged(*([g[0]] for g in groups))


def test_nothing_measured_is_never_zero():
    v = verdicts({})
    measurable = [x for x in v.values() if x.measurable]
    assert {x.verdict for x in measurable} <= {"not measured", "not testable"}
    assert {x.verdict for x in measurable} == {"not measured"}  # strengthened: "not testable" is gone
    assert all(
        x.missing and not x.evidence.text and x.evidence.n is None for x in measurable
    )  # what is missing, never a figure
    assert {x.verdict for x in v.values() if not x.measurable} == {"not measurable"}
    assert len(v) == len(claims.CLAIMS)


def test_hatchet_latency_and_throughput():
    # throughput: judged by a projection from a sweep (test_claims_conditions.py), never the closed-loop fan-out
    fast = [
        runs("hatchet", "latency-probe", "p50", around(0.4)),
        runs("hatchet", "fanout-100-noop", "throughput", around(2500)),
    ]
    v = judged(*fast)
    assert v["hatchet-sub-ms"].verdict == "supported"
    assert v["hatchet-thousands-per-s"].verdict == "not measured"
    assert "make bench PLATFORM=hatchet WORKLOAD=rate-sweep-noop" in v["hatchet-thousands-per-s"].missing
    ev = v["hatchet-sub-ms"].evidence
    assert ev.n == 5 and ev.threshold == 1 and ev.threshold_source.startswith('seed: "sub-millisecond')
    lo, hi = ev.interval
    assert 0.38 <= lo <= 0.4 <= hi <= 0.42 and "over 5 runs: median 0.400 ms, 95% [" in ev.text
    one = latest_only(*fast)["hatchet-sub-ms"]  # one run decides nothing, whatever it shows
    assert one.verdict == "inconclusive" and "needs 4 more runs of hatchet" in one.evidence.decides
    slow = judged(runs("hatchet", "latency-probe", "p50", around(12.0)))
    assert slow["hatchet-sub-ms"].verdict == "contradicted" and "12.000 ms" in slow["hatchet-sub-ms"].evidence.text


def test_temporal_resources_compared_without_the_harness():
    heavy = [
        runs("temporal", "idle-60s", "idle_rss", around(800)),
        runs("prefect", "idle-60s", "idle_rss", around(300)),
    ]
    v = judged(*heavy)["temporal-higher-resources"]
    assert v.verdict == "supported" and v.evidence.p_values["prefect<temporal"] < 0.05
    one = latest_only(*heavy)["temporal-higher-resources"]
    assert one.verdict == "inconclusive" and "needs 4 more runs" in one.evidence.decides
    light = judged(
        runs("temporal", "idle-60s", "idle_rss", around(200)), runs("prefect", "idle-60s", "idle_rss", around(300))
    )
    v = light["temporal-higher-resources"]
    assert v.verdict == "contradicted" and "temporal 200 MB" in v.evidence.text
    assert "out of order: prefect not below temporal (p=" in v.evidence.text


def test_a_dev_server_cannot_settle_a_deployment_claim():
    v = verdicts(
        {
            ("temporal", "idle-60s"): cell("temporal", "idle-60s", idle_rss=200, deployment="development"),
            ("prefect", "idle-60s"): cell("prefect", "idle-60s", idle_rss=300),
        }
    )
    assert v["temporal-higher-resources"].verdict == "inconclusive"
    assert v["temporal-most-complex"].verdict == "inconclusive"
    assert "production-shaped stacks of temporal" in v["temporal-higher-resources"].evidence.decides


def test_one_platform_alone_is_inconclusive():
    v = verdicts({("temporal", "idle-60s"): cell("temporal", "idle-60s", idle_rss=500)})
    assert v["temporal-higher-resources"].verdict == "inconclusive"


def test_resource_ranking_follows_the_matrix():
    ok = judged(
        *(
            runs(p, "idle-60s", "idle_rss", around(m))
            for p, m in (("hatchet", 150), ("prefect", 300), ("temporal", 600))
        )
    )
    v = ok["resource-ranking"]
    assert v.verdict == "supported" and v.evidence.n == 5
    assert set(v.evidence.p_values) == {"hatchet<prefect", "hatchet<temporal", "prefect<temporal"}
    assert all(p < 0.05 for p in v.evidence.p_values.values())
    assert [part.text for part in v.evidence.parts] == ["hatchet", "prefect", "temporal"]
    assert v.evidence.conditions["cores"] == "2"
    bad = judged(
        *(
            runs(p, "idle-60s", "idle_rss", around(m))
            for p, m in (("hatchet", 500), ("prefect", 300), ("temporal", 600))
        )
    )
    assert bad["resource-ranking"].verdict == "contradicted"
    assert "out of order: hatchet not below prefect" in bad["resource-ranking"].evidence.text


def test_projected_cores_straddling_the_threshold_is_inconclusive():
    sweeps = runs_of(
        lambda ms: make_record(
            "hatchet", "h", "rate-sweep-noop", kind="production", status="complete", load=rates({10: 90, 50: ms}, 100)
        ),
        [14, 10, 22, 12, 19],
    )
    v = judged(sweeps)["hatchet-thousands-per-s"]
    assert v.verdict == "inconclusive" and v.evidence.n == 5
    lo, hi = v.evidence.interval
    assert lo < 16 < hi and "the 95% interval spans the threshold" in v.evidence.decides


def test_pss_counts_where_sampled_and_rss_elsewhere():
    f = claims.Facts({("temporal", "idle-60s"): cell("temporal", "idle-60s", idle_rss=800, pss=True)})
    assert f.idle_memory_mb("temporal") == 800  # 600 PSS (server) + 200 RSS (worker), harness left out


def test_evidence_names_the_stack_the_run_recorded():
    c = cell("hatchet", "latency-probe", p50=0.4)
    c.deployment.description = "hatchet-engine + api on PostgreSQL"
    v = verdicts({("hatchet", "latency-probe"): c})
    assert "measured on: hatchet-engine + api on PostgreSQL" in v["hatchet-sub-ms"].evidence.text
    assert "2 cores" in v["hatchet-sub-ms"].evidence.text
    conditions = v["hatchet-sub-ms"].evidence.conditions
    assert conditions["cores"] == "2" and "hatchet-engine + api on PostgreSQL" in conditions["stack"]


def test_a_stand_in_is_not_the_seed_platform():
    # temporal-dev stands for temporal; it is measured under its own name and never counted as temporal
    v = verdicts(
        {
            ("temporal-dev", "idle-60s"): cell("temporal-dev", "idle-60s", idle_rss=100, deployment="development"),
            ("prefect", "idle-60s"): cell("prefect", "idle-60s", idle_rss=300),
        }
    )
    assert v["temporal-higher-resources"].verdict == "not measured"


def test_the_seven_claims_of_before_are_rows():
    ids = {c.id for c in claims.CLAIMS}
    assert {
        "hatchet-sub-ms",
        "hatchet-thousands-per-s",
        "temporal-higher-resources",
        "temporal-most-complex",
        "resource-ranking",
        "windmill-13x-airflow",
        "stateless-workers",
    } <= ids


def test_never_decided_on_a_failed_or_unfinished_run():
    for status in ("failed", "running", "interrupted"):
        v = verdicts({("hatchet", "latency-probe"): cell("hatchet", "latency-probe", p50=0.4, status=status)})
        assert v["hatchet-sub-ms"].verdict == "not measured"
        assert f"hatchet-latency-probe {status}" in v["hatchet-sub-ms"].missing
        assert "make bench PLATFORM=hatchet WORKLOAD=latency-probe" in v["hatchet-sub-ms"].missing


def test_a_stand_in_dev_server_is_named_but_never_counted_for_a_deployment_claim():
    v = verdicts(
        {
            ("temporal-dev", "idle-60s"): cell("temporal-dev", "idle-60s", idle_rss=100, deployment="development"),
            ("prefect", "idle-60s"): cell("prefect", "idle-60s", idle_rss=300),
        }
    )
    missing = v["temporal-higher-resources"].missing
    assert "temporal-dev was measured (development" in missing and "make bench PLATFORM=temporal " in missing


def test_a_verdict_carries_its_runs_machine_and_conditions():
    v = verdicts(
        {
            (p, "idle-60s"): cell(p, "idle-60s", idle_rss=m)
            for p, m in (("hatchet", 150), ("prefect", 300), ("temporal", 600))
        }
    )["resource-ranking"]
    assert v.runs == ["hatchet/hatchet-idle-60s", "prefect/prefect-idle-60s", "temporal/temporal-idle-60s"]
    assert v.machines == ["AMD EPYC, 2 cores, 24 GiB, Python 3.11.7"]
    assert v.conditions.startswith("on 2 cores: hatchet: native default stack (x), 1 worker")
    assert "kestra" in v.missing and "BACKEND=compose" in v.missing  # the unmeasured ranks say how to measure them
