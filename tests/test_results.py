import json

import pytest

from harness.model.errors import BenchError
from harness.model.record import Repetition, RunRecord, Setup
from harness.store.results import Redactor, RunRecorder, load_run

from .record_factory import make_record


def test_round_trip_keeps_exact_nanoseconds(tmp_path):
    rec = RunRecorder(make_record("null", "r1"), Redactor(), root=tmp_path)
    t = 1_790_000_000_123_456_789  # epoch ns: more digits than a float64 holds exactly
    rec.write_table(
        "tasks", [{"workflow_id": "a", "index": 0, "submit_ns": t, "body_start_ns": t + 1, "engine_started_ns": None}]
    )
    rec.finish("complete")
    data = load_run(tmp_path / "null" / "r1")
    assert isinstance(data.record, RunRecord)
    assert data.record.status == "complete" and data.record.schema_version == 2
    assert data.record.finished_at is not None and data.record.migrated_from_schema is None
    row = data.tasks.iloc[0]
    assert int(row["submit_ns"]) == t and int(row["body_start_ns"]) == t + 1
    assert row["engine_started_ns"] is None or str(row["engine_started_ns"]) == "<NA>"
    assert data.workflows.empty  # never written: an empty frame, not an error
    assert data.record == RunRecord.model_validate_json((tmp_path / "null" / "r1" / "run.json").read_text())


def test_run_json_is_written_as_it_goes(tmp_path):
    rec = RunRecorder(make_record("null", "r2"), Redactor(), root=tmp_path)
    path = tmp_path / "null" / "r2" / "run.json"
    assert json.loads(path.read_text())["status"] == "running"
    rec.record.setup = Setup(start_to_ready_s=1.5)
    rec.flush()
    assert json.loads(path.read_text())["setup"]["start_to_ready_s"] == 1.5
    rec.record.repetitions.append(Repetition(repetition=0, phase="warmup-1", warmup=True, status="ok"))
    rec.flush()
    assert json.loads(path.read_text())["repetitions"][0]["phase"] == "warmup-1"
    # nothing half-written is left beside the files
    assert not [f for f in path.parent.iterdir() if f.name.endswith(".tmp")]


def test_a_wrong_value_is_refused_when_set_not_when_read(tmp_path):
    rec = RunRecorder(make_record("null", "r4"), Redactor(), root=tmp_path)
    with pytest.raises(Exception):
        rec.record.status = "finished"  # not a status a run can have
    with pytest.raises(Exception):
        rec.record.setup.deploy_s = float("nan")  # JSON has no NaN


def test_secrets_never_reach_results_or_logs(tmp_path):
    secret = "s3cr3t-token-value"
    redact = Redactor([secret])
    rec = RunRecorder(
        make_record("null", "r3", endpoints={"db": f"postgresql://bench:{secret}@127.0.0.1/x"}), redact, root=tmp_path
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "server.log").write_text(f"connecting with password {secret}\n")
    rec.copy_logs(logs)
    rec.finish("failed", error=redact(f"auth failed for {secret}"))
    for f in (tmp_path / "null" / "r3").rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f
    assert load_run(tmp_path / "null" / "r3").record.error == "auth failed for ***"


def test_a_run_id_is_never_reused(tmp_path):
    RunRecorder(make_record("null", "same"), Redactor(), root=tmp_path)
    with pytest.raises(FileExistsError):
        RunRecorder(make_record("null", "same"), Redactor(), root=tmp_path)


def test_a_broken_table_is_one_line(tmp_path):
    rec = RunRecorder(make_record("null", "r5"), Redactor(), root=tmp_path)
    rec.finish("complete")
    (rec.dir / "tasks.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(BenchError) as err:
        load_run(rec.dir)
    assert "tasks.parquet" in str(err.value) and "\n" not in str(err.value)
