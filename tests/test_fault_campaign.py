"""The fault campaign's plan (from the real stacks and workloads folders), its resume check, and its
cells run through a stand-in for the driver: one line per cell, failures named, Ctrl-C not swallowed."""

from pathlib import Path

import pytest
from rich.console import Console

from harness.campaign import faults as fc
from harness.model import spec
from harness.model.errors import BenchError, RunInterrupted
from harness.model.spec import FaultTarget
from harness.stack import definition
from tests.record_factory import make_record


def test_every_fault_workload_is_found_and_a_plain_one_refused():
    names = [w.name for w in fc.fault_workloads()]
    assert {"fault-worker-kill-chain", "fault-server-restart", "fault-database-pause"} <= set(names)
    with pytest.raises(BenchError, match="not a fault workload: latency-probe"):
        fc.fault_workloads(["latency-probe"])


def test_each_fault_runs_on_the_variant_that_has_its_target():
    wls = fc.fault_workloads(["fault-database-restart", "fault-worker-kill-chain"])
    cells = {(c.platform, c.workload): c for c in fc.plan(["prefect", "temporal", "temporal-dev"], wls)}
    assert cells["prefect", "fault-database-restart"].variant == "postgres"  # SQLite by default
    assert cells["temporal", "fault-database-restart"].variant is None  # its default has PostgreSQL
    skipped = cells["temporal-dev", "fault-database-restart"]
    assert skipped.skipped and "no variant of temporal-dev's native stack has a database service" in skipped.skipped
    assert all(cells[p, "fault-worker-kill-chain"].variant is None for p in ("prefect", "temporal", "temporal-dev"))
    assert [c.workload for c in fc.plan(["prefect", "temporal"], wls)][:2] == ["fault-database-restart"] * 2


def test_a_target_named_by_service_picks_the_variant_with_that_service():
    prefect = definition.load("prefect")
    assert fc.variant_for(prefect, FaultTarget(service="postgres")) == "postgres"
    assert fc.variant_for(prefect, FaultTarget(service="server")) == "sqlite"
    with pytest.raises(BenchError, match="service 'history'"):
        fc.variant_for(prefect, FaultTarget(service="history"))


def _write(results: Path, record) -> Path:
    run_dir = results / record.platform / record.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(record.model_dump_json())
    return run_dir


def test_a_cell_is_done_only_by_a_complete_native_run_of_its_variant(tmp_path):
    cell = fc.FaultCell("prefect", "fault-database-pause", "postgres")
    _write(
        tmp_path,
        make_record(
            "prefect",
            "20261203T1-fault-database-pause-a",
            "fault-database-pause",
            kind="production",
            variant="sqlite",
            status="complete",
        ),
    )
    _write(
        tmp_path,
        make_record(
            "prefect",
            "20261203T2-fault-database-pause-b",
            "fault-database-pause",
            kind="production",
            variant="postgres",
            status="failed",
        ),
    )
    assert fc.already_done(cell, tmp_path) is None
    _write(
        tmp_path,
        make_record(
            "prefect",
            "20261203T3-fault-database-pause-c",
            "fault-database-pause",
            kind="production",
            variant="postgres",
            status="complete",
        ),
    )
    assert fc.already_done(cell, tmp_path) is None, "a run of an older version of the workload"
    done = _write(
        tmp_path,
        make_record(
            "prefect",
            "20261203T4-fault-database-pause-d",
            "fault-database-pause",
            kind="production",
            variant="postgres",
            status="complete",
            workload_hash=spec.load("fault-database-pause").digest(),
        ),
    )
    assert fc.already_done(cell, tmp_path) == done


def test_a_run_whose_fault_outcomes_predate_what_the_harness_measures_now_is_not_done(tmp_path):
    from harness.analysis.faults import outcome
    from harness.model.fault_record import FAULT_MEASURES, FaultOutcome
    from harness.model.record import Repetition

    from .test_faults import chain_stamps, inputs

    cell = fc.FaultCell("prefect", "fault-database-pause", "postgres")
    now = outcome(inputs(chain_stamps(3.1)))
    older = FaultOutcome.model_validate_json(now.model_dump_json(exclude={"measures"}))  # as written before
    assert older.measures == 1 < FAULT_MEASURES == now.measures

    def write(run_id, fault):
        reps = [Repetition(repetition=1, phase="rep-1", warmup=False, status="ok", fault=fault)]
        return _write(
            tmp_path,
            make_record(
                "prefect",
                run_id,
                "fault-database-pause",
                kind="production",
                variant="postgres",
                status="complete",
                repetitions=reps,
                workload_hash=spec.load("fault-database-pause").digest(),
            ),
        )

    write("20261203T1-fault-database-pause-a", older)
    assert fc.already_done(cell, tmp_path) is None
    done = write("20261203T2-fault-database-pause-b", now)
    assert fc.already_done(cell, tmp_path) == done


def test_cells_run_in_order_with_one_line_each_and_failures_named(tmp_path):
    ok = _write(
        tmp_path,
        make_record(
            "temporal",
            "r-fault-server-restart",
            "fault-server-restart",
            kind="production",
            variant="postgres",
            status="complete",
            workload_hash=spec.load("fault-server-restart").digest(),
        ),
    )
    cells = [
        fc.FaultCell("temporal", "fault-server-restart", None),
        fc.FaultCell("temporal-dev", "fault-database-pause", None, skipped="no database"),
        fc.FaultCell("hatchet", "fault-server-restart", None),
    ]

    def run_one(cell):
        if cell.platform == "hatchet":
            raise BenchError("hatchet: engine never became ready")
        return ok

    lines = []
    failures = fc.run_cells(cells, run_one, lines.append, tmp_path)
    assert failures == ["hatchet/fault-server-restart"]
    assert lines == [
        f"[1/3] temporal/fault-server-restart: complete -> {ok}",
        "[2/3] temporal-dev/fault-database-pause: not run: no database",
        "[3/3] hatchet/fault-server-restart failed: hatchet: engine never became ready",
    ]
    assert fc.run_cells(cells[:1], run_one, lines.append, tmp_path, skip_done=False) == []
    planned = []
    never = lambda cell: pytest.fail(f"a dry run ran {cell.label}")  # noqa: E731
    assert fc.run_cells(cells, never, planned.append, tmp_path, skip_done=True, dry_run=True) == []
    assert planned == [
        f"[1/3] temporal/fault-server-restart: already done -> {ok}",
        "[2/3] temporal-dev/fault-database-pause: not run: no database",
        "[3/3] hatchet/fault-server-restart: would run",
    ]

    def interrupted(cell):
        raise RunInterrupted("interrupted")

    with pytest.raises(RunInterrupted):
        fc.run_cells(cells, interrupted, lines.append, tmp_path)


def test_the_terminal_table_shows_what_the_report_shows():
    row = {
        "platform": "hatchet",
        "stack": "native default",
        "scenario": "worker-kill",
        "service": "worker",
        "undo_after_s": 5.0,
        "lost": 0,
        "expected": 6,
        "duplicated": 0,
        "runs_failed": 0,
        "runs_unfinished": 0,
        "recovery_s": 7.25,
        "to_end_s": 12.0,
        "behaviour": "reassigned",
        "submitted_during": "queued",
    }
    console = Console(width=200, record=True)
    console.print(fc.table([row]))
    text = console.export_text()
    assert "0/6" in text and "7.25" in text and "reassigned" in text and "0/0" in text and "queued" in text


def test_the_command_plans_and_refuses_bad_names_in_one_line(tmp_path):
    from tests.conftest import bench

    done = bench("faults", "--platform", "temporal-dev", "--dry-run", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "temporal-dev/fault-server-restart: would run" in done.stdout
    assert "temporal-dev/fault-database-pause: not run: no variant" in done.stdout
    for args, message in (
        (["--platform", "dagster"], "unknown platform 'dagster'"),
        (["--workload", "idle-60s"], "not a fault workload: idle-60s"),
    ):
        done = bench("faults", "--dry-run", *args, results=tmp_path)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert done.returncode == 1 and len(lines) == 1 and message in lines[0], done.stderr
