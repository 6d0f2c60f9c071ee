"""The harness under faults: a platform that hangs, a harness killed outright, secrets never written."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from harness.model.errors import BenchError
from harness.model.record import load_record
from harness.platforms.null import NullAdapter
from harness.run.driver import RunOptions, run
from harness.run.ledger import RunLedger, reap_orphans

from .conftest import LedgerWatch, Started, bench, leftovers, require_runnable, small, stacks_with


class _Silent:
    """A server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        for conn in self.accepted:
            conn.close()
        self.sock.close()


SILENT: dict = {}


class HangingAdapter(NullAdapter):
    """Submits over HTTP, with no timeout of its own, to a server that never answers."""

    name = "hang"

    def submit(self, request):
        urllib.request.urlopen(f"http://127.0.0.1:{SILENT['port']}/start", data=b"{}")  # no timeout: blocks


def test_a_platform_that_never_answers_ends_at_the_timeout_naming_the_step(tmp_path, monkeypatch):
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"hang": "tests.test_harness_faults:HangingAdapter"})
    server = _Silent()
    SILENT["port"] = server.port
    started = time.monotonic()
    try:
        with pytest.raises(BenchError, match=r"^hang: submit\(\) did not return within 2s \(partial results in "):
            run(
                RunOptions(
                    "hang",
                    small("latency-probe", runs=1, repetitions=1, timeout_s=2),
                    results_root=tmp_path / "results",
                )
            )
    finally:
        server.close()
    assert time.monotonic() - started < 15
    record = load_record(next((tmp_path / "results" / "hang").iterdir()) / "run.json")
    assert record.status == "failed" and "submit() did not return within 2s" in record.error


class SwallowingAdapter(NullAdapter):
    """An SDK call that catches BaseException and goes on: the user's Ctrl-C lands there, once, and
    is lost; then the call blocks for blocks_s more."""

    name = "swallow"
    swallowed = 0
    blocks_s = 0.0

    def wait(self, handle, timeout_s):
        try:
            if not SwallowingAdapter.swallowed:
                os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, landing inside this call
            return super().wait(handle, timeout_s)
        except BaseException:
            SwallowingAdapter.swallowed += 1
            time.sleep(SwallowingAdapter.blocks_s)
            return super().wait(handle, timeout_s)


@pytest.mark.parametrize("blocks_s", [0.0, 30.0], ids=["returns", "blocks"])
def test_an_interrupt_swallowed_inside_an_sdk_call_still_ends_the_run(tmp_path, monkeypatch, blocks_s):
    """Returning, the call meets the next safe point; blocking, the watchdog delivers the interrupt again."""
    from harness.model.errors import RunInterrupted

    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"swallow": "tests.test_harness_faults:SwallowingAdapter"})
    monkeypatch.setattr(SwallowingAdapter, "swallowed", 0)
    monkeypatch.setattr(SwallowingAdapter, "blocks_s", blocks_s)
    started = time.monotonic()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, however pytest started
    try:
        with pytest.raises(RunInterrupted):
            run(
                RunOptions(
                    "swallow",
                    small("latency-probe", runs=50, warmup=0, repetitions=1),
                    results_root=tmp_path / "results",
                )
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert SwallowingAdapter.swallowed == 1
    assert time.monotonic() - started < 15  # not 30 s of blocking, nor the 49 runs after it
    record = load_record(next((tmp_path / "results" / "swallow").iterdir()) / "run.json")
    assert record.status == "interrupted" and not record.repetitions


def test_a_ledger_left_by_a_killed_harness_is_cleaned_by_the_next_command(tmp_path):
    run_dir = tmp_path / "bench-run"
    run_dir.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ledger = RunLedger.open("r1", run_dir, root=tmp_path)
    ledger.harness_pid, ledger.harness_started = dead.pid, 0.0  # a harness that is gone
    ledger.launched("server", sleeper.pid)
    try:
        lines = reap_orphans(root=tmp_path)
        assert (
            len(lines) == 1 and "was left by a harness that was killed" in lines[0] and "stopped 1 process" in lines[0]
        )
        assert sleeper.wait(10) is not None and not run_dir.exists()
        assert reap_orphans(root=tmp_path) == [], "cleaned once"
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_a_live_runs_ledger_is_left_alone(tmp_path):
    RunLedger.open("r2", tmp_path / "x", root=tmp_path)
    assert reap_orphans(root=tmp_path) == []
    assert (tmp_path / "runs" / "r2.json").exists()


def test_the_leftover_check_follows_the_pids_a_run_recorded_not_command_lines(tmp_path, run_processes):
    """Another program's PostgreSQL (here a sleeper whose command line names a pgdata folder, as the
    old name check looked for) is not the test's: only what the run recorded counts, by pid and start
    time, whether taken as the ledger is written (run_processes) or from its file (LedgerWatch)."""
    from harness.tools.chaos import processes_mentioning

    sleep = [sys.executable, "-c", "import time; time.sleep(30)", "-D", str(tmp_path / "pgdata")]
    other, ours = subprocess.Popen(sleep), subprocess.Popen(sleep)
    try:
        assert {other.pid, ours.pid} <= {p.pid for p in processes_mentioning("pgdata")}  # the old check's catch
        ledger = RunLedger.open("r3", tmp_path / "x", root=tmp_path)
        ledger.set_result_dir(tmp_path / "results" / "r3")
        with LedgerWatch(tmp_path / "results", state_dir=tmp_path) as watch:
            ledger.launched("postgres", ours.pid)
        assert [p.pid for p in leftovers(run_processes)] == [ours.pid]
        assert [p.pid for p in leftovers(watch.processes)] == [ours.pid]
        assert [p.pid for p in leftovers(json.loads(ledger.path.read_text())["processes"])] == [ours.pid]
        ledger.close()  # a clean end removes the file: what was taken while it ran stays
        assert [p.pid for p in leftovers(run_processes)] == [ours.pid]
        # the same pid started at another time is a recycled pid: someone else's
        assert leftovers([Started("postgres", other.pid, psutil.Process(other.pid).create_time() - 60)]) == []
        ours.kill()
        deadline = time.monotonic() + 10
        while psutil.Process(ours.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)  # dead, not yet reaped (not waited for): a zombie
        assert psutil.Process(ours.pid).status() == psutil.STATUS_ZOMBIE and leftovers(run_processes) == []
        ours.wait()
        assert leftovers(run_processes) == [] and leftovers(watch.processes) == []
        assert other.poll() is None  # the other program's process still runs, and was never flagged
    finally:
        for proc in (other, ours):
            proc.kill()
            proc.wait()


@pytest.mark.integration
def test_sigkill_of_the_harness_leaves_nothing_once_the_next_command_ran(tmp_path):
    require_runnable("temporal-dev")
    env = {**os.environ, "BENCH_RESULTS_DIR": str(tmp_path), "BENCH_STATE_DIR": str(tmp_path / ".state")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "temporal-dev", "latency-probe", "--runs", "500"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ledger_dir = tmp_path / ".state" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the worker is up: the ledger lists server and worker
        docs = [json.loads(p.read_text()) for p in ledger_dir.glob("*.json")] if ledger_dir.is_dir() else []
        if docs and len(docs[0]["processes"]) >= 2 and docs[0]["result_dir"]:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the run never got its worker up")
    run_dir = docs[0]["run_dir"]
    children = psutil.Process(proc.pid).children(recursive=True)  # what the harness started, by pid
    os.killpg(proc.pid, signal.SIGKILL)  # the harness and its process group: no cleanup code runs
    proc.wait()
    recorded = [e for p in ledger_dir.glob("*.json") for e in json.loads(p.read_text())["processes"]]
    done = bench("list", results=tmp_path)
    assert done.returncode == 0
    assert "cleaned up: run " in done.stderr and "was left by a harness that was killed" in done.stderr
    assert len(recorded) >= 2 and not leftovers([*recorded, *children]) and not Path(run_dir).exists()
    record = load_record(Path(docs[0]["result_dir"]) / "run.json")
    assert record.status == "interrupted" and "killed" in record.error
    assert not list(ledger_dir.glob("*.json"))


@pytest.mark.integration
def test_no_generated_secret_reaches_results_logs_report_or_terminal(tmp_path, monkeypatch, capfd):
    """A full Hatchet stack has the most secrets: the database password, the admin password, the API token.
    It is also the one stack with a listener beyond loopback (declared): checked here, on the same run."""
    require_runnable("hatchet")
    import harness.run.driver as driver
    from harness.report.render import render
    from harness.store.results import Redactor

    seen: list[str] = []

    class Collecting(Redactor):
        def add(self, secrets):
            seen.extend(s for s in secrets if s)
            super().add(secrets)

    monkeypatch.setattr(driver, "Redactor", Collecting)
    path = run(RunOptions("hatchet", small("latency-probe", runs=2, repetitions=1), results_root=tmp_path))
    # the one listener beyond loopback, declared (no setting for hatchet-api's address); any other ends the run
    assert [e.split()[0] for e in load_record(path / "run.json").beyond_loopback] == ["api"]
    render(tmp_path)
    secrets = {s for s in seen if len(s) >= 8}
    assert len(secrets) >= 3, "postgres password, admin password and token were generated"
    printed = capfd.readouterr()
    for secret in secrets:
        assert secret not in printed.out + printed.err
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{path} holds a generated secret"


@pytest.mark.integration
def test_interrupted_runs_leave_nothing_behind():
    """A short `make chaos`: one run per kind of interruption (the full 50 are `make chaos`)."""
    require_runnable("temporal-dev")
    from harness.tools.chaos import FAULTS, campaign

    outcomes = campaign(len(FAULTS), "temporal-dev", seed=7)
    assert [o.fault for o in outcomes] == list(FAULTS)
    for o in outcomes:
        assert o.clean, o
        assert o.status in ("failed", "interrupted", None), o
        assert o.exit_code != 0, o


def test_a_harness_started_with_sigint_ignored_keeps_ignoring_it_and_sigterm_still_ends_the_run():
    """`bench run ... &` in a script starts it with SIGINT ignored, as background jobs are; the run
    must not start reacting to it halfway (before and during the run alike), and SIGTERM still works."""
    from harness.run.guards import interrupts

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises within this sleep
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


class RefusingReads(NullAdapter):
    """A null platform with a worker process whose server answers the first two status reads of each
    measured run with an error, as Prefect's answers 500 while its database is paused."""

    name = "refusing"
    refused: dict = {}
    error: type = RuntimeError

    def workers(self, deployment):
        from .test_faults import sleeper

        return [sleeper()]

    def wait(self, handle, timeout_s):
        key = handle.request.workflow_id
        if "-rep-" in key and self.refused.setdefault(key, 0) < 2:
            self.refused[key] += 1
            raise self.error(f"Server error '500 Internal Server Error' for {key}")
        return super().wait(handle, timeout_s)


def test_status_reads_refused_during_a_fault_are_asked_again_and_counted_and_otherwise_end_the_run(
    tmp_path, monkeypatch
):
    from .test_faults import KILL, workload

    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"refusing": f"{__name__}:RefusingReads"})
    wl = workload(fault={**KILL, "trigger": {"after_tasks": 1}, "undo_after_s": [0.1]}, tasks=4, repetitions=1)
    doc = json.loads((run(RunOptions("refusing", wl, results_root=tmp_path)) / "run.json").read_text())
    assert doc["status"] == "complete", doc.get("error")
    fault = doc["repetitions"][-1]["fault"]
    # two for the repetition's run, two for the run submitted during the fault, which was still queued
    assert fault["refused_reads"] == 4 and fault["behaviour"] == "unaffected", json.dumps(fault)
    assert "500 Internal Server Error" in fault["refused_read_example"]
    assert "4 of the harness's status reads" in fault["behaviour_detail"]
    probe = fault["probe"]
    assert probe["workflow_id"].endswith("-rep-1-probe-0") and probe["http_status"] == 202
    assert probe["verdict"] == "queued" and probe["ended_ns"] > probe["sent_ns"], json.dumps(probe)
    RefusingReads.refused.clear()
    with pytest.raises(BenchError, match="refusing: RuntimeError: Server error '500"):
        run(RunOptions("refusing", wl.model_copy(update={"fault": None}), results_root=tmp_path))
    # a bug of the harness's (a handle wait() cannot use) is never taken for the platform's refusal
    RefusingReads.refused.clear()
    monkeypatch.setattr(RefusingReads, "error", AttributeError)
    with pytest.raises(BenchError, match="refusing: AttributeError: Server error"):
        run(RunOptions("refusing", wl, results_root=tmp_path))
