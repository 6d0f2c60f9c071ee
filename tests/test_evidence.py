"""The evidence campaign (`bench evidence`, `make evidence`): its plan on the committed results, a plan
derived from the claims file, its dry run through the CLI, and a real resumable campaign on null."""

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.campaign import evidence as ev
from harness.claims import model
from harness.claims.metrics import fault_outcomes
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted
from harness.model.paths import REPO_ROOT
from harness.model.record import Repetition, load_record
from tests.record_factory import make_record

from .conftest import bench, require_runnable

COMMITTED = REPO_ROOT / "results"
NATIVE = ["prefect", "temporal", "hatchet", "airflow"]  # fixed, so the plan does not depend on `bench doctor`
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _committed_runs(platform: str, workload: str, variant: str) -> list:
    """The cell's runs read straight from the run.json files, apart from the campaign's own matching."""
    digest = spec.load(workload).digest()
    found = []
    for path in sorted((COMMITTED / platform).glob("*/run.json")):
        doc = json.loads(path.read_text())
        if (
            doc.get("status") == "complete"
            and doc["workload"]["name"] == workload
            and doc["workload"]["hash"] == digest
            and doc["deployment"]["backend"] == "native"
            and doc["deployment"]["variant"] == variant
        ):
            found.append(load_record(path))
    return found


def test_the_plan_on_the_committed_results_counts_runs_and_experiments():
    planned = ev.plan(model.load(), NATIVE, COMMITTED)
    cells = {(c.platform, c.workload): c for c in planned.cells}
    # what the claims name: a subject's own figure, a ranking's levels, a ratio's baseline, a fault scenario
    for key in [("hatchet", "latency-probe"), ("temporal", "rate-sweep-noop"), ("airflow", "chain-40x-fib10")]:
        assert key in cells and cells[key].unit == "runs" and cells[key].required == ev.MIN_RUNS
    assert cells["prefect", "fault-database-restart"].variant == "postgres"  # the variant with the database
    assert "temporal-dev" not in {c.platform for c in planned.cells}  # no claim names the stand-in
    assert {"kestra", "windmill"} <= set(planned.left_out)  # named by claims, not in NATIVE
    fault_cells = [c for c in planned.cells if c.unit == "experiments"]
    assert fault_cells and all(c.required == ev.MIN_EXPERIMENTS for c in fault_cells)
    for c in planned.cells:
        variant = ev.fc.stack_variant(c.platform, c.variant)
        runs = _committed_runs(c.platform, c.workload, variant)
        if c.unit == "experiments":
            assert c.per_run == spec.load(c.workload).repetitions
            assert c.present == sum(len(fault_outcomes(r)) for r in runs), c.label
        else:
            assert c.per_run == 1 and c.present == len(runs), c.label
        assert c.runs_needed == math.ceil(max(0, c.required - c.present) / c.per_run), c.label
    # a fault run holds several experiments: one run can be enough for a fault cell
    assert any(c.present >= c.required and c.present > len(_runs_of(c)) for c in fault_cells)
    scheduled = {c.label for c, _ in planned.schedule()}
    assert all(c.label not in scheduled for c in planned.cells if c.present >= c.required)
    assert planned.runs_needed == len(planned.schedule())
    assert planned.total_s == pytest.approx(sum(c.runs_needed * c.run_s for c in planned.cells))


def _runs_of(c: ev.EvidenceCell) -> list:
    return _committed_runs(c.platform, c.workload, ev.fc.stack_variant(c.platform, c.variant))


CLAIMS = """\
document: test
claims:
- id: hatchet-fib33
  platforms: [hatchet]
  section: test
  quote: a claim naming a workload no other claim needs
  needs: {measures: [{workload: chain-10x-fib33, metric: workflow_e2e.p50_ms}]}
  predicate: {kind: threshold, op: "<", value: 1000, source: "operationalisation: a test"}
- id: prefect-pause
  platforms: [prefect]
  section: test
  quote: a fault claim
  needs: {fault: database-pause, measures: [{workload: fault-database-pause}]}
  predicate:
    kind: fault
    expect: [{metric: fault.tasks_lost, op: "==", value: 0}]
    source: "operationalisation: a test"
- id: null-chain
  platforms: ["null"]
  section: test
  quote: a claim on the in-process platform
  needs: {measures: [{workload: chain-40x-fib10, metric: workflow_e2e.p50_ms}]}
  predicate: {kind: threshold, op: "<", value: 1000, source: "operationalisation: a test"}
"""


def _write(results: Path, record) -> None:
    run_dir = results / record.platform / record.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(record.model_dump_json())


def _run(results, platform, workload, n, variant, minutes=2, **fields):
    fields.setdefault("workload_hash", spec.load(workload).digest())
    start = T0 + timedelta(hours=n)
    record = make_record(
        platform, f"r{n}-{workload}", workload, kind="production", variant=variant, started_at=start, **fields
    )
    _write(results, record.model_copy(update={"finished_at": start + timedelta(minutes=minutes)}))


def _fault_reps(n: int) -> list[Repetition]:
    from harness.analysis.faults import outcome  # lazy: the fault analysis, for this test only

    from .test_faults import chain_stamps, inputs

    done = outcome(inputs(chain_stamps(3.1)))
    return [Repetition(repetition=k, phase=f"rep-{k}", warmup=False, status="ok", fault=done) for k in range(1, n + 1)]


def test_the_plan_is_derived_from_the_claims_and_what_exists(tmp_path):
    claims = model.parse(CLAIMS, "test claims")
    for n, minutes in enumerate([2, 4]):  # two runs of the new cell, 2 and 4 minutes
        _run(tmp_path, "hatchet", "chain-10x-fib33", n, "postgres", minutes, status="complete")
    _run(tmp_path, "hatchet", "chain-10x-fib33", 5, "postgres", status="failed")
    _run(tmp_path, "hatchet", "chain-10x-fib33", 6, "postgres", status="complete", workload_hash="0" * 16)
    _run(tmp_path, "prefect", "fault-database-pause", 7, "postgres", status="complete", repetitions=_fault_reps(2))
    planned = ev.plan(claims, ["prefect", "hatchet"], tmp_path)
    cells = {(c.platform, c.workload): c for c in planned.cells}
    assert set(cells) == {("hatchet", "chain-10x-fib33"), ("prefect", "fault-database-pause")}
    assert planned.left_out == {"null": "does not run natively here (see `bench doctor`)"}
    new = cells["hatchet", "chain-10x-fib33"]
    assert (new.present, new.runs_needed, new.claims) == (2, 3, ("hatchet-fib33",))
    assert new.run_s == 180 and "2 run(s) of this cell" in new.estimated_from  # the median of 2 and 4 minutes
    pause = cells["prefect", "fault-database-pause"]
    assert (pause.unit, pause.present, pause.per_run, pause.runs_needed) == ("experiments", 2, 2, 1)
    assert ev.plan(claims, ["prefect", "hatchet"], tmp_path, ev.Needs(skip_done=False)).runs_needed == 5 + 2
    none_yet = ev.plan(claims, ["null"], tmp_path).cells[0]
    assert (none_yet.present, none_yet.runs_needed, none_yet.run_s) == (0, 5, ev.SHAPE_DEFAULT_S["chain"])
    assert [c.label for c, _ in planned.schedule()][:3] == [new.label, pause.label, new.label]  # round by round


def test_a_failed_run_is_one_line_and_the_campaign_goes_on_until_ctrl_c(tmp_path):
    claims = model.parse(CLAIMS, "test claims")
    planned = ev.plan(claims, ["hatchet"], tmp_path, ev.Needs(min_runs=3))
    _run(tmp_path, "hatchet", "chain-10x-fib33", 1, "postgres", status="complete")
    done = tmp_path / "hatchet" / "r1-chain-10x-fib33"
    outcomes = iter([BenchError("the server never got ready"), done, RunInterrupted("SIGINT")])

    def run_one(cell):
        got = next(outcomes)
        if isinstance(got, Exception):
            raise got
        return got

    lines, advanced = [], []
    with pytest.raises(RunInterrupted):
        ev.run_plan(planned, run_one, lines.append, advanced.append)
    assert "failed: the server never got ready" in lines[0] and "left" in lines[0]
    assert f"complete -> {done}" in lines[1]
    assert "interrupted; 2 of 3 runs done" in lines[2]
    assert advanced == [ev.SHAPE_DEFAULT_S["chain"]] * 2


def test_a_dry_run_prints_the_plan_and_its_total():
    from harness.cli.app import app  # lazy: the CLI, for this test only

    require_runnable("hatchet")
    done = CliRunner().invoke(app, ["evidence", "--dry-run", "--platform", "hatchet"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split()[:4] == ["cell", "present", "runs", "needed"]
    assert any(line.startswith("hatchet/latency-probe ") for line in lines)
    assert lines[-1].startswith("total: ") and " h on this machine" in lines[-1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--platform", "dagster"], "unknown platform 'dagster'"),
        (["--workload", "latency-probe-2"], "unknown workload 'latency-probe-2'"),
        (["--platform", "null"], "no claim needs a cell of null"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    done = bench("evidence", "--dry-run", *args, results=tmp_path, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


def test_a_campaign_on_null_resumes_where_it_stopped(tmp_path):
    claims = tmp_path / "claims.yaml"
    claims.write_text(CLAIMS)
    results = tmp_path / "results"
    args = ["evidence", "--platform", "null", "--min-runs", "2", "--claims-file", str(claims)]
    first = bench(*args, results=results, timeout=120)
    assert first.returncode == 0, first.stderr
    assert len(list((results / "null").glob("*/run.json"))) == 2
    again = bench(*args, results=results, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "nothing left to run" in again.stdout
    assert len(list((results / "null").glob("*/run.json"))) == 2


def test_claims_about_a_deployment_are_planned_on_the_vendor_production_variant():
    planned = ev.plan(model.load(), NATIVE, COMMITTED)
    hatchet = {(c.workload, c.variant): c for c in planned.cells if c.platform == "hatchet"}
    assert "hatchet-sub-ms" in hatchet["latency-probe", "rabbitmq"].claims  # needs.deployment: production
    assert all("hatchet-sub-ms" not in c.claims for (_, v), c in hatchet.items() if v != "rabbitmq")
    # a claim that is not about the deployment stays on the default variant (CPU per task at equal rates)
    assert ("rate-sweep-noop", None) in hatchet
    prefect = {(c.workload, c.variant) for c in planned.cells if c.platform == "prefect"}
    assert ("idle-60s", "postgres") in prefect and ("rate-sweep-noop", None) in prefect  # memory ranking vs CPU
