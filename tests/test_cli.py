"""Bad input through the real command line: one clear line, a non-zero exit, nothing left running."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from harness.tools.chaos import terminal_signals

from .conftest import BENCH, REPO, LedgerWatch, bench, leftovers, require_runnable


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_platform(tmp_path):
    done = bench("run", "dagster", "latency-probe", results=tmp_path)
    assert done.returncode == 1
    assert "unknown platform 'dagster'; known: null, prefect, temporal, temporal-dev, hatchet" in one_error_line(done)


def test_unknown_workload(tmp_path):
    done = bench("run", "null", "latency-probe-2", results=tmp_path)
    assert done.returncode == 1 and "unknown workload 'latency-probe-2'" in one_error_line(done)


def test_malformed_workload_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nshape: chain\n  tasks: 3\n")
    done = bench("run", "null", str(bad), results=tmp_path)
    assert done.returncode == 1 and "malformed YAML" in one_error_line(done)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--runs", "0"], "latency-probe with --runs: runs: Input should be greater than or equal to 1"),
        (["--duration-s", "5"], "duration_s is for idle workloads; a chain workload is as long as its runs"),
    ],
)
def test_an_override_the_workload_cannot_take_is_one_line(tmp_path, args, message):
    done = bench("run", "null", "latency-probe", *args, results=tmp_path)
    assert done.returncode == 1 and message in one_error_line(done)
    assert not (tmp_path / "null").exists(), "nothing started, nothing written"


def test_run_list_report_on_null(tmp_path):
    done = bench("run", "null", "latency-probe", "--runs", "3", "--repetitions", "1", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "null/latency-probe: complete" in done.stdout
    assert bench("list", results=tmp_path).returncode == 0
    done = bench("report", "--results", str(tmp_path), results=tmp_path)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html and "http" not in html.split("<body>")[1][:2000]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| null | in-process | 1/0 |" in md and "not measured" in md
    # platforms without runs are listed as such, with why, never shown as zeros
    assert "- windmill (its server is published only as a container image" in md
    assert "- kestra (natively: " in md and "its compose stack needs a Docker engine)" in md


def test_report_without_results_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    done = bench("report", "--results", str(tmp_path / "empty"), results=tmp_path)
    assert done.returncode == 1 and "no complete runs" in one_error_line(done)


@pytest.mark.parametrize("command", ["report", "claims"])
def test_a_path_that_is_not_a_results_folder_is_one_line_worded_alike(tmp_path, command):
    missing = bench(command, "--results", str(tmp_path / "nope"), results=tmp_path)
    assert missing.returncode == 1 and one_error_line(missing) == f"error: {tmp_path / 'nope'}: no such results folder"
    platform = REPO / "results" / "temporal"  # one platform's runs, not a results folder
    done = bench(command, "--results", str(platform), results=tmp_path)
    assert done.returncode == 1
    assert one_error_line(done).startswith(f"error: {platform}: not a results folder but one platform's runs")


def test_doctor_names_what_each_platform_needs(tmp_path):
    done = bench("doctor", results=tmp_path)
    assert "prefect" in done.stdout and "temporal" in done.stdout
    assert done.returncode in (0, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "error: No such command 'frobnicate'. (see `bench --help`)"),
        (
            ["run", "prefect", "latency-probe", "--runs", "abc"],
            "error: Invalid value for '--runs': Input should be a valid integer, unable to parse string as an integer "
            "(see `bench run --help`)",
        ),
        (["run", "null"], "error: Missing argument 'workload'. (see `bench run --help`)"),
        (["list", "--bogus"], "error: No such option: --bogus (Possible options: --long) (see `bench list --help`)"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("COLUMNS", "40")  # click wraps long messages: still one line
    done = bench(*args, results=tmp_path)
    assert done.returncode == 2, done.stderr
    assert one_error_line(done) == message
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_no_runtime_dir_warning_without_xdg_runtime_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    done = bench("list", results=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_endpoints_print_one_line_each_at_any_width():
    token = "eyJhbGciOiJFUzI1NiJ9." + "x" * 300  # a Hatchet API token is about this long
    code = (
        "from pathlib import Path; from harness.cli.stacks import _print_endpoints; "
        f"_print_endpoints({{'api': 'http://127.0.0.1:1/[x]', 'token': {token!r}}}, Path('/tmp/logs'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ, "COLUMNS": "30"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["api: http://127.0.0.1:1/[x]", f"token: {token}", "logs: /tmp/logs"]


@pytest.mark.integration
def test_port_in_use(tmp_path):
    require_runnable("temporal-dev")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = bench("run", "temporal-dev", "latency-probe", "--port", f"frontend={port}", results=tmp_path)
    assert done.returncode == 1
    line = one_error_line(done)
    assert f"port {port} on 127.0.0.1 is already in use (needed by server (frontend))" in line
    run_json = next(tmp_path.glob("temporal-dev/*/run.json"))
    assert json.loads(run_json.read_text())["status"] == "failed"


# ~0.1 s a run on temporal-dev: a warmup of some seconds, then a repetition that is still going for
# seconds after the test sees it begin (it polls every 0.2 s).
LONG_ENOUGH = ("run", "temporal-dev", "latency-probe", "--runs", "60")


def _start(tmp_path, *args):
    env = {"BENCH_RESULTS_DIR": str(tmp_path)}
    import os

    return subprocess.Popen(
        [*BENCH, *args],
        cwd=REPO,
        env={**os.environ, **env},
        preexec_fn=terminal_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_phase(tmp_path, platform, prefix, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run_json in tmp_path.glob(f"{platform}/*/run.json"):
            try:
                doc = json.loads(run_json.read_text())
            except json.JSONDecodeError:
                continue
            if any(p["name"].startswith(prefix) for p in doc.get("phases", [])):
                return run_json
        time.sleep(0.2)
    raise AssertionError(f"no {prefix} phase within {timeout}s")


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_run_keeps_results_and_stops_everything(tmp_path, sig):
    require_runnable("temporal-dev")
    proc = _start(tmp_path, *LONG_ENOUGH)
    run_json = _wait_for_phase(tmp_path, "temporal-dev", "rep-1")
    children = _descendants(proc.pid)
    assert len(children) >= 2  # server and worker
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and str(run_json.parent) in err
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
    doc = json.loads(run_json.read_text())
    assert doc["status"] == "interrupted"
    assert doc["repetitions"][0]["phase"] == "warmup-1"  # the warmup finished before the signal: kept
    assert (run_json.parent / "tasks.parquet").exists() and (run_json.parent / "resources.parquet").exists()


@pytest.mark.integration
def test_worker_death_fails_the_run_cleanly(tmp_path):
    require_runnable("temporal-dev")
    with LedgerWatch(tmp_path) as ledger:  # what the run records it started, read while it runs
        proc = _start(tmp_path, *LONG_ENOUGH)
        run_json = _wait_for_phase(tmp_path, "temporal-dev", "rep-1")
        children = _descendants(proc.pid)
        worker = next(p for p in children if "temporal_worker" in " ".join(p.cmdline()))
        worker.kill()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "worker died with exit code -9" in err or "not complete within" in err, err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert json.loads(run_json.read_text())["status"] == "failed"
    assert ledger.processes and not leftovers([*ledger.processes, *children])


@pytest.mark.integration
def test_up_and_down(tmp_path):
    require_runnable("temporal-dev")
    done = bench("up", "temporal-dev", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "frontend: 127.0.0.1:" in done.stdout
    state = json.loads((tmp_path / ".state" / "temporal-dev.json").read_text())
    procs = [psutil.Process(pid) for pid in state["pids"]]
    assert all(p.is_running() for p in procs)
    again = bench("up", "temporal-dev", results=tmp_path)
    assert again.returncode == 1 and "already up" in one_error_line(again)
    done = bench("down", "temporal-dev", results=tmp_path)
    assert done.returncode == 0, done.stderr
    _, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive
    assert not (tmp_path / ".state" / "temporal-dev.json").exists()
    done = bench("down", "temporal-dev", results=tmp_path)
    assert done.returncode == 1 and "is not up" in one_error_line(done)
