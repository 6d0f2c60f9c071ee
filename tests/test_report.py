"""The report reads runs through the record: judged by what each run recorded, busy repetitions flagged."""

import json
from dataclasses import dataclass, field

import jinja2

from harness.analysis import runs as analysis
from harness.model.engine import EngineTask, EngineWorkflow, WorkflowRequest
from harness.model.record import EngineAnomalies, MachineState, Setup, Spread
from harness.model.spec import TaskSpec, Workload
from harness.report import claims as report_claims
from harness.report import matrix as report_matrix
from harness.report import page as report_page
from harness.report import render as report
from harness.store.results import Redactor, RunRecorder

from .record_factory import make_record

T0 = 1_790_000_000_000_000_000
WL = Workload(
    name="latency-probe", shape="chain", tasks=1, task=TaskSpec(op="noop", n=0), runs=3, warmup=0, repetitions=2
)


def measured_run(root, platform, run_id, *, busy_rep=None, **fields):
    rec = RunRecorder(
        make_record(
            platform,
            run_id,
            WL.name,
            kind=fields.pop("kind", "production"),
            setup=Setup(start_to_ready_s=1.0, deploy_s=0.5, long_running_services=2),
            **fields,
        ),
        Redactor(),
        root=root,
    )
    tasks, workflows = [], []
    for rep in range(WL.repetitions):
        subs, stamps, engine = [], [], {}
        for i in range(WL.runs):
            t = T0 + rep * 10**9 + i * 10**7
            req = WorkflowRequest(f"{run_id}-{rep}-{i}", "chain", 1, "noop", 0)
            subs.append(analysis.Submission(req, None, t, t + 3_000_000, "completed"))
            stamps.append(
                {
                    "workflow_id": req.workflow_id,
                    "index": 0,
                    "pid": 1,
                    "body_start_ns": t + 1_000_000,
                    "body_end_ns": t + 2_000_000,
                }
            )
            engine[req.workflow_id] = EngineWorkflow(
                "completed", t, t + 500_000, t + 2_500_000, [EngineTask(0, t, t + 100, t + 900_000, t + 2_000_000)]
            )
        done = analysis.assemble(rep, f"rep-{rep + 1}", False, WL, subs, stamps, engine)
        verdict = done.repetition
        if rep == busy_rep:
            verdict.machine_state = MachineState(
                duration_s=0.1,
                load_avg_1m_start=1.0,
                load_avg_1m_end=2.5,
                steal_pct=12.0,
                busy=True,
                busy_reason="CPU steal 12.0%",
            )
        rec.record.repetitions.append(verdict)
        tasks += done.task_rows
        workflows += done.workflow_rows
    rec.write_table("tasks", tasks)
    rec.write_table("workflows", workflows)
    rec.finish("complete")
    return rec


def test_assemble_judges_a_clean_repetition():
    req = WorkflowRequest("w", "chain", 2, "noop", 0)
    stamps = [
        {"workflow_id": "w", "index": i, "pid": 1, "body_start_ns": T0 + 10 * i + 1, "body_end_ns": T0 + 10 * i + 5}
        for i in range(2)
    ]
    wl = Workload(name="w", shape="chain", tasks=2, runs=1)
    done = analysis.assemble(
        0,
        "rep-1",
        False,
        wl,
        [analysis.Submission(req, None, T0, T0 + 50, "completed")],
        stamps,
        {"w": EngineWorkflow("completed", tasks=[EngineTask(0, queued_ns=T0), EngineTask(1, queued_ns=T0)])},
    )
    assert done.repetition.status == "ok" and done.repetition.tasks_completed == 2
    assert done.repetition.engine_anomalies.missing_start == 2  # queued, but no start time recorded
    assert done.task_rows[1]["body_start_ns"] == T0 + 11 and done.workflow_rows[0]["done_ns"] == T0 + 50


def test_engine_records_that_could_not_be_read_fail_the_repetition():
    req = WorkflowRequest("w", "chain", 1, "noop", 0)
    stamps = [{"workflow_id": "w", "index": 0, "pid": 1, "body_start_ns": T0 + 1, "body_end_ns": T0 + 2}]
    wl = Workload(name="w", shape="chain", tasks=1, runs=1)
    broken = EngineWorkflow("completed", records_error="HTTP 500")
    done = analysis.assemble(
        0,
        "rep-1",
        False,
        wl,
        [analysis.Submission(req, None, T0, T0 + 5, "completed")],
        stamps,
        {"w": broken},
        failure=None,
    )
    assert done.repetition.status == "failed"
    assert "w: engine records unavailable: HTTP 500" in done.repetition.reasons
    timed_out = analysis.assemble(0, "rep-1", False, wl, [], [], {}, failure="w not complete within 5s")
    assert timed_out.repetition.reasons[0] == "w not complete within 5s"
    assert timed_out.repetition.throughput_tasks_per_s is None


def test_report_flags_busy_repetitions_and_shows_the_wait_interval(tmp_path):
    measured_run(tmp_path, "hatchet", "h1", busy_rep=1, wait_poll_s=0.05)
    measured_run(tmp_path, "temporal", "t1")
    md, html = report.render(tmp_path)
    text = md.read_text()
    assert "| hatchet | native default | 2/0 |" in text
    assert "| hatchet | native default | polls every 50 ms |" in text
    assert "| temporal | native default | the SDK long-polls or streams the result (no interval) |" in text
    assert "| hatchet | native default | latency-probe | rep-2 | CPU steal 12.0% | 12.0 | 2.50 |" in text
    assert "| 1 |\n" in text  # the hatchet row counts its busy repetition
    # seed platforms without a run are named with why, from the registry
    assert "- windmill (its server is published only as a container image" in text
    assert "- kestra (natively: " in text and "its compose stack needs a Docker engine)" in text
    assert "- prefect (no complete run in these results)" in text


def test_an_unreadable_run_is_listed_not_a_crash(tmp_path):
    measured_run(tmp_path, "hatchet", "h1")
    bad = tmp_path / "prefect" / "broken"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text(json.dumps({"schema_version": 9}))
    text = report.render(tmp_path)[0].read_text()
    assert "| prefect | ? | broken | unreadable |" in text and "schema_version 9" in text


def test_claims_judge_the_deployment_the_run_recorded(tmp_path):
    # the same platform once as a development server, once production-shaped and marked the default variant
    measured_run(tmp_path, "hatchet", "dev", kind="development", variant="dev", default_variant=False)
    measured_run(tmp_path, "hatchet", "prod", variant="postgres", default_variant=True)
    cells, _ = report.collect(tmp_path)
    chosen = report.claim_cells(cells)
    assert chosen[("hatchet", "latency-probe")].run_id == "prod"
    assert {k[1] for k in cells} == {"native dev", "native postgres"}


def idle_run(root, platform, run_id, services: dict[str, tuple[str, float]], **fields):
    """A complete idle-60s run whose services (name -> (role, MiB)) were sampled twice."""
    rec = RunRecorder(
        make_record(
            platform,
            run_id,
            "idle-60s",
            kind=fields.pop("kind", "production"),
            setup=Setup(start_to_ready_s=2.0, long_running_services=len(services), footprint_bytes=100 * 2**20),
            **fields,
        ),
        Redactor(),
        root=root,
    )
    rec.write_table(
        "resources",
        [
            {
                "t_ns": T0 + i * 10**9,
                "phase": "idle",
                "service": name,
                "role": role,
                "cpu_pct": 1.0,
                "rss_bytes": int(mb * 2**20 * 1.5),
                "pss_bytes": int(mb * 2**20),
                "processes": 1,
                "source": "procfs",
            }
            for i in range(2)
            for name, (role, mb) in services.items()
        ],
    )
    rec.finish("complete")
    return rec


def test_the_matrix_sets_each_measurement_beside_the_documents_word(tmp_path):
    idle_run(
        tmp_path,
        "hatchet",
        "hi",
        {
            "engine": ("server", 100),
            "postgres": ("database", 50),
            "worker": ("worker", 25),
            "harness": ("harness", 999),
        },
    )
    idle_run(tmp_path, "temporal", "ti", {"frontend": ("server", 300), "postgres": ("database", 50)})
    measured_run(tmp_path, "hatchet", "h1")
    md, html = report.render(tmp_path)
    text = md.read_text()
    matrix = text.split("## Operational Comparison Matrix")[1].split("## Claims")[0]
    rows = [ln for ln in matrix.splitlines() if ln.startswith("| **")]
    assert [r.split("**")[1] for r in rows] == list(report_matrix.ROWS)
    header = next(ln for ln in matrix.splitlines() if ln.startswith("| aspect |"))
    assert [h.split("<br>")[0].strip() for h in header.split("|")[2:-1]] == list(report_matrix.doc_columns().values())
    resources = next(r for r in rows if "Resource Requirements" in r).split(" | ")
    # the harness's own process is not the platform's: 175 MiB of PSS over hatchet's three services
    assert "document: **Low**<br>measured: idle: 175 MiB (PSS, all 3 services)" in resources[4]
    assert "(rank 1 of 2, least first) [run](../hatchet/hi/run.json)" in resources[4]
    assert "document: **High**<br>measured: idle: 350 MiB" in resources[2] and "rank 2 of 2" in resources[2]
    assert (
        "document: **Moderate**<br>*not measured*: no run here: its compose stack needs a Docker engine" in resources[3]
    )
    setup = next(r for r in rows if "Setup Complexity" in r)
    # services from the idle run; start -> ready over every run of the stack (each run is one lifecycle)
    assert "measured: 4 long-running services; start -> ready 1.50 s [1.00–2.00] over 2 runs" in setup
    assert "<br>*not measurable*" not in setup
    security = next(r for r in rows if "Security Features" in r)
    assert security.count("<br>*not measurable*: feature list, not a behaviour") == 5  # Kestra too: no run can
    # the page is the markdown's twin, self-contained
    assert "<table>" in html.read_text() and "../hatchet/hi/run.json" in html.read_text()


def test_the_report_can_be_rendered_elsewhere_with_links_back_to_the_runs(tmp_path):
    measured_run(tmp_path / "results", "hatchet", "h1")
    md, html = report.render(tmp_path / "results", out=tmp_path / "page")
    assert md.parent == tmp_path / "page" and not (tmp_path / "results" / "report").exists()
    assert "[h1](../results/hatchet/h1/run.json)" in md.read_text()
    assert (tmp_path / "page" / "../results/hatchet/h1/run.json").resolve().is_file()


@dataclass
class PlainResult:  # what harness.claims returned before issue 9
    id: str
    platform: str
    quote: str
    verdict: str
    evidence: str


@dataclass
class RichResult:  # issue 9's verdicts: runs named, conditions and what is missing
    id: str
    platform: str
    quote: str
    verdict: str
    evidence: str
    section: str = ""
    conditions: str = ""
    runs: list = field(default_factory=list)
    measurable: bool = True
    missing: str = ""


def test_claims_link_down_to_the_runs_they_rest_on(tmp_path):
    h = make_record("hatchet", "h1", "latency-probe")
    t = make_record("temporal", "t1", "idle-60s")
    chosen = {("hatchet", "latency-probe"): h, ("temporal", "idle-60s"): t}
    views = report_claims.views(
        [
            RichResult("a", "hatchet", "sub-ms", "contradicted", "p50 8 ms", "Scaling", "2 cores", ["hatchet/h1"]),
            PlainResult("b", "temporal", "heavier", "supported", "idle memory: temporal 338 MB"),
            RichResult("c", "temporal", "SOC 2", "not measurable", "a certificate", measurable=False),
            RichResult("d", "hatchet", "reassign", "not measured", "", missing="run fault-worker-kill-chain"),
        ],
        chosen,
    )
    assert [v.runs for v in views] == [[h], [t], [], []]
    assert views[3].evidence == "run fault-worker-kill-chain"
    counts = report_claims.counts(views)
    assert (counts.total, counts.measurable, counts.decided, counts.not_measured, counts.not_measurable) == (
        4,
        3,
        2,
        1,
        1,
    )
    assert report_claims.run_link(h, tmp_path / "results", tmp_path / "results" / "report") == "../hatchet/h1/run.json"


def test_a_section_with_nothing_to_show_is_absent(monkeypatch):
    env = jinja2.Environment(loader=jinja2.DictLoader({"x.md.j2": "## X {{ n }}"}))
    monkeypatch.setattr(
        report_page,
        "PARTIALS",
        {
            "x": ("x.md.j2", lambda cells, against: {"n": len(cells)}),
            "gone": ("x.md.j2", lambda cells, against: None),
            "no-template": ("y.md.j2", lambda cells, against: {"n": 1}),
        },
    )
    assert report_page.partials(env, {}) == {"x": "## X 0"}


def test_spread_too_large_to_trust_is_named(tmp_path):
    noisy = Spread(median=100, min=20, max=400, cv=0.67, n=5, unstable=True)
    row = report.LatencyRow(
        platform="hatchet",
        variant="native postgres",
        backend="native",
        run_id="r",
        ok=2,
        failed=0,
        lat={},
        throughput=noisy,
        p50_spread=None,
        anomalies=EngineAnomalies(),
        busy=1,
        record=make_record("hatchet"),
    )
    lines = report_page.spread_warnings({"fanout-100-noop": [row]}, [])
    assert lines == [
        "hatchet (native postgres), fanout-100-noop: only 2 measured repetition(s) passed; their "
        "spread cannot be judged",
        "hatchet (native postgres), fanout-100-noop: throughput 100.0 tasks/s varies 67% (cv) across 5 "
        "repetitions [20.0–400.0]",
        "hatchet (native postgres), fanout-100-noop: 1 repetition(s) measured while the machine was busy",
    ]
    assert report.TEMPLATES.filters["cell"]("a | b\nc") == "a \\| b c"


def test_a_platforms_other_stacks_are_set_beside_its_default_one(tmp_path):
    measured_run(tmp_path, "hatchet", "dev", kind="development", variant="dev", default_variant=False)
    text = report.render(tmp_path)[0].read_text()
    assert "## default stacks against other stacks" not in text  # one stack: nothing to compare
    measured_run(tmp_path, "hatchet", "prod", variant="postgres", default_variant=True)
    text = report.render(tmp_path)[0].read_text()
    assert "## default stacks against other stacks" in text
    assert "### hatchet: native postgres against native dev" in text
