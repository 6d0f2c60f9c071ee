"""run.json is read through the model: a broken or older file gets one line naming file and field."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.model.errors import BenchError
from harness.model.record import SCHEMA_VERSION, MachineState, RunRecord, load_record
from harness.store import machine
from harness.store.results import Redactor, RunRecorder

from .record_factory import make_record

REPO = Path(__file__).resolve().parent.parent
V1_FILES = sorted(REPO.glob("results/*/*/run.json"))


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def written(tmp_path, doc) -> Path:
    path = tmp_path / "run.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def a_v2_doc(tmp_path) -> dict:
    rec = RunRecorder(make_record("null", "ok"), Redactor(), root=tmp_path)
    return json.loads((rec.dir / "run.json").read_text())


def test_malformed_json_names_the_file(tmp_path):
    path = written(tmp_path, '{"schema_version": 2, "run_id": ')
    with pytest.raises(BenchError) as err:
        load_record(path)
    assert str(path) in one_line(err) and "malformed JSON" in str(err.value)


def test_not_an_object(tmp_path):
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, "[1, 2]"))
    assert "JSON object" in one_line(err)


def test_missing_field_is_named(tmp_path):
    doc = a_v2_doc(tmp_path)
    del doc["machine"]["ram_bytes"]
    path = written(tmp_path, doc)
    with pytest.raises(BenchError) as err:
        load_record(path)
    assert str(path) in one_line(err) and "field machine.ram_bytes" in str(err.value)


def test_wrong_type_is_named_with_the_value(tmp_path):
    doc = a_v2_doc(tmp_path)
    doc["setup"]["deploy_s"] = "soon"
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, doc))
    assert "field setup.deploy_s" in one_line(err) and '"soon"' in str(err.value)


def test_unknown_field_is_named(tmp_path):
    doc = a_v2_doc(tmp_path)
    doc["deployment"]["shape"] = "big"
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, doc))
    assert "field deployment.shape" in one_line(err)


@pytest.mark.parametrize("version", [3, 0, "2", True, None])
def test_unknown_versions_are_refused_by_name(tmp_path, version):
    doc = a_v2_doc(tmp_path)
    if version is None:
        del doc["schema_version"]
    else:
        doc["schema_version"] = version
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, doc))
    line = one_line(err)
    assert ("no schema_version" if version is None else f"schema_version {version!r}") in line
    assert "known: 1, 2" in line


def test_a_time_without_a_zone_is_refused(tmp_path):
    doc = a_v2_doc(tmp_path)
    doc["started_at"] = "2026-11-24T01:58:40"
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, doc))
    assert "field started_at" in one_line(err)


def test_missing_file(tmp_path):
    with pytest.raises(BenchError) as err:
        load_record(tmp_path / "nope" / "run.json")
    assert "cannot read" in one_line(err)


def test_a_written_record_loads_back_equal(tmp_path):
    rec = RunRecorder(make_record("null", "rt", wait_poll_s=0.05), Redactor(), root=tmp_path)
    rec.finish("complete")
    assert load_record(rec.dir / "run.json") == rec.record
    assert rec.record.schema_version == SCHEMA_VERSION


@pytest.mark.skipif(not V1_FILES, reason="no reference results in this checkout")
@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_every_reference_result_loads(path):
    raw = json.loads(path.read_text())
    record = load_record(path)
    if raw["schema_version"] != 1:
        return
    assert record.migrated_from_schema == 1 and record.schema_version == 2
    assert record.deployment.kind == raw["deployment"]
    assert record.deployment.description == raw["stack_description"]
    assert record.deployment.variant == raw["variant"] and record.deployment.backend == raw["backend"]
    # long-running services: exactly as many as the old record counted, one-shot steps left out
    assert len(record.deployment.services) == raw["setup"]["long_running_services"]
    assert "worker" in {s.name for s in record.deployment.services}
    assert record.summary is not None
    raw_tp = raw["summary"]["throughput_tasks_per_s"]
    tp = record.summary.throughput_tasks_per_s
    assert (tp is None) == (raw_tp is None)
    if tp is not None:
        assert tp.model_dump() == raw_tp
    assert [r.repetition for r in record.repetitions] == [r["repetition"] for r in raw["repetitions"]]


def test_a_v1_record_is_migrated(tmp_path):
    v1 = {
        "schema_version": 1,
        "run_id": "x",
        "platform": "temporal-dev",
        "status": "failed",
        "error": "boom",
        "started_at": "2026-11-24T01:58:40.463+00:00",
        "backend": "native",
        "variant": "sqlite",
        "deployment": "development",
        "stack_description": "dev server",
        "sampler_hz": 5.0,
        "workload": {"name": "idle-60s", "hash": "ab", "spec": {}},
        "machine": {
            "cpu_model": "x",
            "logical_cores": 2,
            "physical_cores": 1,
            "ram_bytes": 1,
            "os": "L",
            "kernel": "k",
            "python": "3.11",
            "ci": False,
        },
        "harness": {"git_sha": None, "dirty": None},
        "setup": {"services_ready_s": {"server": 1.0}},
        "repetitions": [{"repetition": 0, "phase": "idle", "warmup": False, "status": "ok"}],
    }
    record = load_record(written(tmp_path, v1))
    assert record.deployment.kind == "development" and record.deployment.variant == "sqlite"
    assert [(s.name, s.role) for s in record.deployment.services] == [("server", "unrecorded"), ("worker", "worker")]
    assert record.error == "boom" and record.summary is None and record.wait_poll_s is None
    v1["deployment"] = "huge"
    with pytest.raises(BenchError) as err:
        load_record(written(tmp_path, v1))
    assert "field deployment.kind" in one_line(err)


def test_the_machine_is_described():
    m = machine.machine()
    assert m.logical_cores and m.ram_bytes > 0 and m.python == sys.version.split()[0]
    # governor and frequency: a value where the kernel exposes it, else None; never an error
    assert m.cpu_governor is None or isinstance(m.cpu_governor, str)


def test_probe_flags_another_busy_process_and_ignores_the_runs_own():
    probe = machine.RepetitionProbe()
    probe.begin()
    time.sleep(0.3)
    quiet = probe.end()
    assert isinstance(quiet, MachineState) and quiet.duration_s >= 0.3
    assert quiet.steal_pct is None or 0 <= quiet.steal_pct <= 100

    # a CPU-bound process that is not ours: started through a shell that exits, so it is no
    # descendant of the harness
    spin = "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass\n"
    out = subprocess.run(
        ["sh", "-c", f"{sys.executable} -c '{spin}' >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(out.stdout.strip())
    probe = machine.RepetitionProbe()
    probe.begin()
    time.sleep(1.0)
    state = probe.end()
    assert pid in {p.pid for p in state.busy_processes}, state
    assert state.busy and "other processes" in state.busy_reason

    probe = machine.RepetitionProbe(exclude_pids=lambda: {pid})  # the same process, declared the run's own
    probe.begin()
    time.sleep(0.3)
    assert pid not in {p.pid for p in probe.end().busy_processes}


def test_a_busy_repetition_is_counted_in_the_summary():
    import pandas as pd

    from harness.analysis import runs as analysis
    from harness.model.record import Repetition

    busy = MachineState(
        duration_s=1, load_avg_1m_start=1, load_avg_1m_end=2, steal_pct=9.0, busy=True, busy_reason="CPU steal 9.0%"
    )
    record = make_record(
        repetitions=[
            Repetition(repetition=0, phase="warmup-1", warmup=True, status="ok", machine_state=busy),
            Repetition(repetition=1, phase="rep-1", warmup=False, status="ok", machine_state=busy),
            Repetition(repetition=2, phase="rep-2", warmup=False, status="ok"),
        ]
    )
    summary = analysis.summarize_tables(record, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert summary.busy_repetitions == [1] and summary.measured_repetitions_ok == 2
    assert isinstance(RunRecord.model_validate_json(record.model_dump_json()), RunRecord)
