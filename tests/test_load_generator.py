"""The open-loop load generator (issue 8): its schedule, its coordinated-omission accounting, its
HTTP framing, and real steps through Locust's master and two worker processes against the null
server (integration). Nothing here imports Locust or gevent into the test process."""

import json
import socket
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load import HttpTarget, NullServer, Step, run_step
from harness.load.ceiling import search_ceiling
from harness.load.cpu_idle import can_hold, current_request_us
from harness.load.generator import RECORD_COLUMNS, read_records, summarize
from harness.load.http1 import encode_request
from harness.load.records import write_share
from harness.load.schedule import RequestTemplate, RetryPolicy, intended_offset_ns, is_late, window_count, worker_share
from harness.model.errors import BenchError
from harness.tools.chaos import terminal_signals
from tests.conftest import REPO, leftovers

MS = 1_000_000


# --- the schedule -----------------------------------------------------------------------------


def test_step_counts_split_warmup_and_measured_by_intended_time():
    step = Step(rate_per_s=10, duration_s=2, warmup_s=1)
    assert (step.warmup_count, step.measured_count, step.total_count) == (10, 20, 30)
    # i/rate < seconds: 0, 1/3, 2/3 and 1.0 -> 1.5 s of 3/s holds i = 0..4
    assert window_count(3, 1.5) == 5 and window_count(3, 1.0) == 3 and window_count(1000, 0) == 0


def test_intended_times_are_fixed_offsets_from_t0():
    assert [intended_offset_ns(i, 1000) for i in range(4)] == [0, MS, 2 * MS, 3 * MS]
    assert intended_offset_ns(1, 3) == 333_333_333 and intended_offset_ns(2, 3) == 666_666_667
    assert intended_offset_ns(999_999, 12_345) == round(999_999 * 1e9 / 12_345)


@given(total=st.integers(0, 500), workers=st.integers(1, 9))
def test_worker_shares_partition_the_schedule(total, workers):
    shares = [list(worker_share(total, w, workers)) for w in range(workers)]
    assert sorted(i for s in shares for i in s) == list(range(total))
    assert all(i % workers == w for w, s in enumerate(shares) for i in s)


def test_request_template_substitutes_every_string_of_the_body_and_the_path():
    target = HttpTarget(
        base_url="http://127.0.0.1:8080/",
        path="/runs/{workflow_id}/start",
        headers={"Authorization": "Bearer t"},
        body={"id": "{workflow_id}", "n": 3, "tags": ["x-{workflow_id}", {"k": "{workflow_id}"}]},
    )
    t = RequestTemplate(target, "sweep.a_1")
    assert target.base_url == "http://127.0.0.1:8080"
    assert t.path(7) == "/runs/sweep.a_1-7/start"
    assert json.loads(t.body(7)) == {"id": "sweep.a_1-7", "n": 3, "tags": ["x-sweep.a_1-7", {"k": "sweep.a_1-7"}]}
    assert t.headers == {"Authorization": "Bearer t", "Content-Type": "application/json"}
    assert RequestTemplate(HttpTarget(base_url="http://h:1", path="/p"), "p").body(0) == b""


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "https://h:1", "path": "/"},
        {"base_url": "http://h:1", "path": "p"},
        {"base_url": "http://h:1", "path": "/", "method": "GET"},
    ],
)
def test_targets_are_validated(bad):
    with pytest.raises(ValueError):
        HttpTarget(**bad)


def test_a_retry_policy_doubles_its_wait_within_its_jitter_and_names_its_source():
    policy = RetryPolicy(statuses=frozenset({503, 429}), max_retries=5, backoff_s=2.0, jitter=0.2, source="client X")
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]  # the middle of the jitter
    assert policy.delay_s(1, 0.0) == pytest.approx(1.6) and policy.delay_s(1, 0.999999) == pytest.approx(2.4)
    assert policy.describe() == "HTTP 429, 503 retried up to 5 times after 2 s, doubling, jitter ±20% (client X)"
    both = policy.model_copy(update={"transport_errors": True})
    assert both.describe().startswith("HTTP 429, 503 and failed connections retried up to 5 times")
    plan = json.loads(json.dumps(HttpTarget(base_url="http://h:1", path="/", retry=policy).model_dump(mode="json")))
    assert HttpTarget.model_validate(plan).retry == policy  # as the Locust workers receive it
    with pytest.raises(ValueError):
        RetryPolicy(statuses=frozenset({503}), max_retries=0, backoff_s=1, source="x")


def test_a_bad_id_prefix_is_one_line_before_anything_starts(tmp_path):
    with pytest.raises(BenchError, match="id prefix 'a b'"):
        run_step(HttpTarget(base_url="http://127.0.0.1:1", path="/"), Step(rate_per_s=1, duration_s=1), "a b", tmp_path)
    assert not list(tmp_path.iterdir())


def test_the_driver_side_never_imports_locust_or_gevent():
    code = (
        "import sys, harness.load as l; l.run_step, l.measure_ceiling, l.NullServer, l.Step;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent', 'geventhttpclient')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


# --- coordinated-omission accounting -----------------------------------------------------------


def _records(step: Step, t0: int, send_delay, ack_after=MS) -> pd.DataFrame:
    """Synthetic records: send_delay(i) -> ns after the intended time, or None for never sent."""
    rows = []
    for i in range(step.total_count):
        intended = t0 + intended_offset_ns(i, step.rate_per_s)
        delay = send_delay(i, intended - t0)
        send = None if delay is None else intended + delay
        rows.append(
            {
                "seq": i,
                "worker": i % 2,
                "workflow_id": f"p-{i}",
                "warmup": i < step.warmup_count,
                "intended_ns": intended,
                "send_ns": send,
                "ack_ns": None if send is None else send + ack_after,
                "http_status": 0 if send is None else 200,
                "error": "not sent: the step ended first" if send is None else None,
            }
        )
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return df.astype({"send_ns": "Int64", "ack_ns": "Int64"})


def test_a_stalled_generator_shows_as_lag_late_and_latency_from_intended_never_dropped():
    step, t0 = Step(rate_per_s=1000, duration_s=1, warmup_s=0.1), 10**18
    stall_from, stall_to = 500 * MS, 550 * MS  # offsets from the measured start

    def delay(i, offset):
        measured_offset = offset - 100 * MS
        if i == step.total_count - 1:
            return None  # the last one never went out
        if stall_from <= measured_offset < stall_to:
            return stall_to - measured_offset  # sent when the generator woke, all at once
        return 20_000  # 20 µs: on time

    r = summarize(_records(step, t0, delay), step, t0_ns=t0, workers=2)
    assert r.lag_ms.count == step.measured_count - 1  # every sent measured submission
    assert r.late == 49 + 1  # lag > 1 ms: offsets 500..548 ms; + the unsent
    assert r.errors == 1
    assert 45 < r.lag_ms.max_ms <= 50.1 and r.lag_ms.p50_ms < 0.1
    assert r.latency_from_send_ms.max_ms == pytest.approx(1.0, abs=0.01)
    assert r.latency_from_intended_ms.max_ms == pytest.approx(51.0, abs=0.1)
    assert not r.generator_kept_up  # p99 of lag is in the stall
    assert r.offered_per_s == 1000 and r.sent_per_s == pytest.approx(999, abs=2)


def test_warmup_submissions_are_kept_but_not_counted():
    step, t0 = Step(rate_per_s=100, duration_s=1, warmup_s=0.5), 10**18
    r = summarize(_records(step, t0, lambda i, _: 5 * MS if i < 50 else 10_000), step, t0_ns=t0, workers=1)
    assert len(r.records) == 150 and r.records["warmup"].sum() == 50
    assert r.late == 0 and r.lag_ms.count == 100 and r.generator_kept_up


def _payload(worker, workers, intended, send, ack, status, errors=None, retries=None):
    return {
        "worker": worker,
        "workers": workers,
        "intended": np.array(intended, dtype=np.int64).tobytes(),
        "send": np.array(send, dtype=np.int64).tobytes(),
        "ack": np.array(ack, dtype=np.int64).tobytes(),
        "status": np.array(status, dtype=np.int16).tobytes(),
        "errors": errors or {},
        "retries": np.array(retries or [0] * len(intended), dtype=np.int16).tobytes(),
    }


def test_worker_records_become_one_table_with_every_outcome_named(tmp_path):
    step = Step(rate_per_s=1, duration_s=4, drain_s=7)  # 4 submissions, 2 workers: 0,2 and 1,3
    write_share(tmp_path / "records-w0.npz", _payload(0, 2, [10, 30], [11, 0], [12, 0], [200, 0], retries=[2, 0]))
    write_share(
        tmp_path / "records-w1.npz",
        _payload(1, 2, [20, 40], [21, 41], [22, 0], [503, 0], {"1": "ConnectionResetError: reset"}),
    )
    df = read_records(tmp_path, step, "p", workers=2)
    assert list(df["seq"]) == [0, 1, 2, 3] and list(df["workflow_id"]) == ["p-0", "p-1", "p-2", "p-3"]
    assert df["send_ns"].isna().tolist() == [False, False, True, False]
    assert df["error"].tolist() == [None, "HTTP 503", "not sent: the step ended first", "ConnectionResetError: reset"]
    assert df["retries"].tolist() == [2, 0, 0, 0]
    with pytest.raises(BenchError, match="1 of 2 Locust workers"):
        (tmp_path / "records-w1.npz").unlink()
        read_records(tmp_path, step, "p", workers=2)


def test_the_ceiling_search_climbs_then_halves_the_gap():
    tried = []

    def attempt(rate):
        tried.append(rate)
        return rate <= 7000

    assert search_ceiling(attempt, (1000, 2000, 4000, 8000, 16000), refine=2) == 7000
    assert tried == [1000, 2000, 4000, 8000, 6000, 7000]
    assert search_ceiling(lambda r: False, (1000,), refine=1) is None


# --- HTTP framing -------------------------------------------------------------------------------


def test_requests_are_encoded_with_length_and_host():
    data = encode_request("POST", "127.0.0.1:9", "/r/1", {"Authorization": "x", "content-length": "9"}, b'{"a":1}')
    assert data == (b'POST /r/1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAuthorization: x\r\nContent-Length: 7\r\n\r\n{"a":1}')


CANNED = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
]


def _canned_server(responses):
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = srv.accept()
        with conn:
            for response in responses:
                conn.recv(65536)
                for i in range(0, len(response), 7):  # in pieces, as a network may deliver them
                    conn.sendall(response[i : i + 7])

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_the_null_server_acknowledges_pipelined_requests_and_refuses_garbage(tmp_path):
    with NullServer(tmp_path) as server:
        req = encode_request("POST", "h", "/r", {}, b'{"id":"a"}')
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(req * 3)
            got = b""
            while got.count(b"HTTP/1.1 200") < 3:
                got += s.recv(65536)
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 400")
    assert server.served == 3


# --- real steps: Locust master + worker processes ---------------------------------------------

TOKEN = "tok-8a-never-written"


@pytest.mark.integration
def test_two_local_workers_acknowledge_every_submission_once_on_schedule(tmp_path, load_processes):
    step = Step(rate_per_s=200, duration_s=2, warmup_s=0.5)
    out = tmp_path / "step"
    with NullServer(tmp_path) as server:
        target = HttpTarget(
            base_url=server.base_url,
            path="/runs/{workflow_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            body={"id": "{workflow_id}"},
        )
        r = run_step(target, step, "two", out, workers=2)
    df = r.records
    assert r.workers == 2 and sorted(df["worker"].unique()) == [0, 1]
    assert df["seq"].tolist() == list(range(step.total_count)) and df["workflow_id"].is_unique
    assert (df["http_status"] == 200).all() and df["ack_ns"].notna().all() and df["error"].isna().all()
    assert server.served == step.total_count  # the server saw each exactly once
    assert ((df["intended_ns"] - r.t0_ns) == [intended_offset_ns(i, 200) for i in df["seq"]]).all()
    assert (df["send_ns"] >= df["intended_ns"]).all() and (df["ack_ns"] >= df["send_ns"]).all()
    assert r.lag_ms.count == step.measured_count and r.errors == 0
    assert r.late == sum(is_late(i, s) for i, s in zip(df["intended_ns"][~df["warmup"]], df["send_ns"][~df["warmup"]]))
    assert r.acked_per_s == pytest.approx(200, rel=0.05)
    assert r.setup and all(rep["cpu_idle"] for rep in r.worker_reports.values())
    if can_hold():  # each worker held idle CPUs awake while it sent, and let go when done
        assert "poll" in r.setup and current_request_us() != 0
    assert len(load_processes) == 3 and not leftovers(load_processes)  # master + 2 workers, all ended
    assert not (out / "step-plan.json").exists()
    assert not any(TOKEN in p.read_text(errors="replace") for p in out.iterdir() if p.suffix in (".log", ".json"))


@pytest.mark.integration
def test_a_target_that_answers_slowly_shows_in_latency_from_intended_and_in_late(tmp_path, load_processes):
    # capacity 50/s (one server, 20 ms each) offered 100/s through at most 4 connections
    step = Step(rate_per_s=100, duration_s=2, max_in_flight=4, drain_s=15)
    with NullServer(tmp_path, service_ms=20) as server:
        r = run_step(HttpTarget(base_url=server.base_url, path="/r"), step, "slow", tmp_path / "step")
    assert len(r.records) == step.total_count and r.errors == 0  # all answered in the end
    assert r.late > step.measured_count / 3  # sends waited for a free connection
    assert r.latency_from_intended_ms.max_ms > 1000  # 200 submissions at 50/s: ~4 s
    assert r.latency_from_send_ms.p99_ms < 0.5 * r.latency_from_intended_ms.p99_ms
    assert r.acked_per_s < 60 and not r.generator_kept_up
    assert load_processes and not leftovers(load_processes)


@pytest.mark.integration
def test_an_unreachable_target_is_recorded_as_errors_not_a_crash(tmp_path, load_processes):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        r = run_step(
            HttpTarget(base_url=f"http://127.0.0.1:{port}", path="/"),
            Step(rate_per_s=20, duration_s=1),
            "gone",
            tmp_path / "step",
        )
    assert r.errors == 20 and r.records["error"].str.contains("Connection").all()
    assert load_processes and not leftovers(load_processes)


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.mark.integration
def test_ctrl_c_mid_step_leaves_nothing_running(tmp_path):
    import signal
    import time

    out = tmp_path / "step"
    code = (
        "import sys; from pathlib import Path; from harness.load import *\n"
        f"with NullServer(Path({str(tmp_path)!r})) as s:\n"
        "    run_step(HttpTarget(base_url=s.base_url, path='/'), Step(rate_per_s=50, duration_s=60),"
        f" 'int', Path({str(out)!r}), workers=2)\n"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True, preexec_fn=terminal_signals
    )  # the SIGINT below is a Ctrl-C
    deadline = time.monotonic() + 120
    while not (out / "t0_ns").exists() and time.monotonic() < deadline:  # the step is under way
        time.sleep(0.2)
    started = psutil.Process(driver.pid).children(recursive=True)  # Locust's and the null server
    assert len([p for p in started if str(out) in " ".join(_cmdline(p))]) == 3  # master + 2 workers
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode != 0 and "KeyboardInterrupt" in err
    assert not leftovers(started)
    assert not (out / "step-plan.json").exists()


def test_stopping_the_generator_does_not_hang_on_a_popen_an_interrupt_left_locked():
    """A Ctrl-C landing inside Popen.poll() (the step's wait calls it every 0.1 s) can leave the
    Popen's internal lock taken: CPython takes it just before its try block. Popen.wait() then
    blocks forever; stopping the generator must not. The lock is taken here to simulate it."""
    from harness.load.generator import _stop_all

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    proc._waitpid_lock.acquire()
    stopper = threading.Thread(target=_stop_all, args=([proc],), daemon=True)
    stopper.start()
    stopper.join(timeout=30)
    try:
        assert not stopper.is_alive(), "stopping blocked on the Popen's lock"
        assert not psutil.pid_exists(proc.pid)
    finally:
        proc._waitpid_lock.release()
        proc.kill()
