"""What the load workers do besides pacing (issue 8): keep idle CPUs awake while they send, say how
they ran, and retry as the platform's own client would (a busy answer, a closed connection).
Integration tests run real Locust workers against small local HTTP servers."""

import threading

import pytest

from harness.load import HttpTarget, Step, run_step
from harness.load.cpu_idle import IdlePoll, can_hold, current_request_us
from harness.load.generator import describe_setup
from harness.load.schedule import RetryPolicy
from tests.conftest import leftovers


@pytest.mark.skipif(
    not can_hold() or current_request_us() is None, reason="needs write access to the PM QoS device (root here)"
)
def test_idle_poll_holds_a_zero_latency_request_only_while_held():
    before = current_request_us()
    with IdlePoll() as idle:
        assert current_request_us() == 0 and "poll" in idle.state
    assert current_request_us() == before != 0


def test_idle_poll_says_why_when_it_cannot_or_may_not(monkeypatch, tmp_path):
    with IdlePoll(str(tmp_path / "missing")) as idle:
        assert idle.state.startswith("default (FileNotFoundError")
    monkeypatch.setenv("BENCH_LOAD_IDLE_POLL", "0")
    before = current_request_us()
    with IdlePoll() as idle:
        assert idle.state == "default (BENCH_LOAD_IDLE_POLL=0)" and current_request_us() == before


def test_the_generator_setup_names_each_distinct_setting_once():
    reports = {
        0: {"scheduling": "SCHED_FIFO 10", "cpu_idle": "poll"},
        1: {"scheduling": "SCHED_FIFO 10", "cpu_idle": "poll"},
        2: {"scheduling": "normal (PermissionError)", "cpu_idle": ""},
    }
    assert describe_setup(reports) == "SCHED_FIFO 10; poll | normal (PermissionError)"
    assert describe_setup({}) is None


class _BusyOnce(threading.Thread):
    """An HTTP server that answers each path 503 the first time and 202 after (like Prefect's
    server when SQLite is locked), counting what it saw; a path under /c/ has its connection
    closed without an answer the first time instead."""

    def __init__(self):
        import http.server

        seen: dict[str, int] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen[self.path] = seen.get(self.path, 0) + 1
                if seen[self.path] == 1 and self.path.startswith("/c/"):
                    self.close_connection = True
                    return
                self.send_response(503 if seen[self.path] == 1 else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        super().__init__(target=self.server.serve_forever, daemon=True)


@pytest.mark.integration
def test_a_busy_answer_is_retried_as_the_platforms_client_would_and_counted(tmp_path, load_processes):
    busy = _BusyOnce()
    busy.start()
    try:
        retry = RetryPolicy(statuses=frozenset({503}), max_retries=2, backoff_s=0.05, source="test")
        target = HttpTarget(
            base_url=f"http://127.0.0.1:{busy.server.server_port}", path="/r/{workflow_id}", retry=retry
        )
        r = run_step(target, Step(rate_per_s=20, duration_s=1, drain_s=5), "busy", tmp_path / "step")
        plain = run_step(
            HttpTarget(base_url=target.base_url, path="/s/{workflow_id}"),
            Step(rate_per_s=20, duration_s=1),
            "plain",
            tmp_path / "plain",
        )
    finally:
        busy.server.shutdown()
    df = r.records
    assert r.errors == 0 and (df["http_status"] == 202).all() and (df["retries"] == 1).all()
    retried = [n for path, n in busy.seen.items() if path.startswith("/r/")]
    assert retried == [2] * 20  # each sent twice, never a third time
    assert r.latency_from_send_ms.min_ms >= 0.05 * 0.8 * 1000  # the wait (less its jitter) shows
    assert plain.errors == 20 and (plain.records["retries"] == 0).all()  # without a policy a 503 is final
    assert load_processes and not leftovers(load_processes)


@pytest.mark.integration
def test_a_closed_connection_is_retried_only_where_the_platforms_client_retries_it(tmp_path):
    busy = _BusyOnce()
    busy.start()
    try:
        results = {}
        for transport in (True, False):
            retry = RetryPolicy(
                statuses=frozenset({503}), max_retries=2, backoff_s=0.05, source="test", transport_errors=transport
            )
            target = HttpTarget(
                base_url=f"http://127.0.0.1:{busy.server.server_port}",
                path=f"/c/{transport}/{{workflow_id}}",
                retry=retry,
            )
            results[transport] = run_step(
                target, Step(rate_per_s=20, duration_s=1, drain_s=5), f"c{transport:d}", tmp_path / f"step-{transport}"
            )
    finally:
        busy.server.shutdown()
    df = results[True].records
    assert results[True].errors == 0 and (df["http_status"] == 202).all() and (df["retries"] == 1).all()
    assert [n for path, n in busy.seen.items() if path.startswith("/c/True/")] == [2] * 20
    closed = results[False].records
    assert results[False].errors == 20 and closed["error"].str.contains("closed before the response").all()
