import json

import pytest

from harness.results import Redactor, RunRecorder, load_run


def test_round_trip_keeps_exact_nanoseconds(tmp_path):
    rec = RunRecorder("null", "r1", {"workload": {"name": "w"}}, Redactor(), root=tmp_path)
    t = 1_790_000_000_123_456_789  # epoch ns: more digits than a float64 holds exactly
    rec.write_table("tasks", [{"workflow_id": "a", "index": 0, "submit_ns": t, "body_start_ns": t + 1,
                               "engine_started_ns": None}])
    rec.finish("complete")
    data = load_run(tmp_path / "null" / "r1")
    assert data["run"]["status"] == "complete" and data["run"]["schema_version"] == 1
    row = data["tasks"].iloc[0]
    assert int(row["submit_ns"]) == t and int(row["body_start_ns"]) == t + 1
    assert row["engine_started_ns"] is None or str(row["engine_started_ns"]) == "<NA>"
    assert data["workflows"].empty  # never written: an empty frame, not an error


def test_run_json_is_written_as_it_goes(tmp_path):
    rec = RunRecorder("null", "r2", {}, Redactor(), root=tmp_path)
    path = tmp_path / "null" / "r2" / "run.json"
    assert json.loads(path.read_text())["status"] == "running"
    rec.update(setup={"start_to_ready_s": 1.5})
    assert json.loads(path.read_text())["setup"]["start_to_ready_s"] == 1.5


def test_secrets_never_reach_results_or_logs(tmp_path):
    secret = "s3cr3t-token-value"
    redact = Redactor([secret])
    rec = RunRecorder("null", "r3", {"endpoints": {"db": f"postgresql://bench:{secret}@127.0.0.1/x"}}, redact,
                      root=tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "server.log").write_text(f"connecting with password {secret}\n")
    rec.copy_logs(logs)
    rec.finish("failed", error=redact(f"auth failed for {secret}"))
    for f in (tmp_path / "null" / "r3").rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f


def test_a_run_id_is_never_reused(tmp_path):
    RunRecorder("null", "same", {}, Redactor(), root=tmp_path)
    with pytest.raises(FileExistsError):
        RunRecorder("null", "same", {}, Redactor(), root=tmp_path)
