"""The load workers' send loop (harness.load.sender) run in the test process, unpatched: framing of
answers however they arrive, every submission answered once, retries, refusals, a backlog behind
busy connections. Locust and gevent stay out of this process (the loop needs neither)."""

import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load import HttpTarget, NullServer
from harness.load.http1 import ProtocolError, parse_response
from harness.load.pacer import COALESCE_NS, ShareConfig, ShareRun, make_clock
from harness.load.schedule import RetryPolicy
from harness.load.sender import SendLoop
from tests.test_load_generator import CANNED, _canned_server
from tests.test_load_workers import _BusyOnce

ANSWERS = [(200, True), (201, True), (204, True), (500, False)]  # CANNED's statuses, keep-alive


def _parse_all(stream: bytes) -> list[tuple[int, bool]]:
    out, pos = [], 0
    while pos < len(stream) and (answer := parse_response(stream, pos)) is not None:
        out.append((answer.status, answer.keep_alive))
        pos = answer.end
    return out


def test_canned_answers_parse_with_status_keep_alive_and_end():
    assert _parse_all(b"".join(CANNED)) == ANSWERS
    until_close = parse_response(b"HTTP/1.0 200 OK\r\n\r\npartial body")
    assert (until_close.status, until_close.keep_alive, until_close.end) == (200, False, None)


@given(cut=st.integers(0, len(b"".join(CANNED))))
def test_an_answer_cut_anywhere_is_incomplete_until_its_last_byte(cut):
    stream = b"".join(CANNED)
    ends = [sum(map(len, CANNED[: n + 1])) for n in range(len(CANNED))]
    assert len(_parse_all(stream[:cut])) == sum(end <= cut for end in ends)


@pytest.mark.parametrize(
    "bad",
    [
        b"SMTP 220 hi\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_what_is_not_http_1_is_a_protocol_error(bad):
    with pytest.raises(ProtocolError):
        parse_response(bad)


def _run(target: HttpTarget, rate: float, total: int, max_in_flight: int = 1000, drain_s: float = 5):
    cfg = ShareConfig(
        target=target,
        id_prefix="s",
        rate_per_s=rate,
        total=total,
        worker=0,
        workers=1,
        t0_ns=time.time_ns() + 100_000_000,
        max_in_flight=max_in_flight,
        drain_s=drain_s,
    )
    run = ShareRun(cfg)
    loop = SendLoop(run, make_clock(), coalesce_ns=COALESCE_NS)
    loop.run(prewarm=2, drain_s=drain_s)
    return run, loop


def test_every_submission_is_sent_on_or_after_its_time_and_answered_once(tmp_path):
    with NullServer(tmp_path) as server:
        target = HttpTarget(base_url=server.base_url, path="/runs/{workflow_id}", body={"id": "{workflow_id}"})
        run, loop = _run(target, rate=1000, total=300)
    assert server.served == 300  # counted once the server has stopped
    assert set(run.status) == {200} and not run.errors and all(run.ack)
    assert all(i <= s <= a for i, s, a in zip(run.intended, run.send, run.ack))
    assert loop.peak <= loop.opened and loop.peak >= 2  # pre-warmed, kept alive, reused
    assert loop.opened < 300


def test_answers_delivered_in_pieces_are_framed_and_a_close_is_honoured():
    srv = _canned_server(CANNED)  # one connection, each answer in 7-byte pieces, the last closes
    run, loop = _run(
        HttpTarget(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", path="/"), rate=20, total=4, max_in_flight=1
    )
    srv.close()
    assert list(run.status) == [200, 201, 204, 500] and not run.errors and loop.opened == 1


def test_a_connection_the_server_closes_while_idle_is_never_reused():
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():  # answers one request per connection, keeps it open 50 ms, then closes it
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    try:  # 10/s: each submission finds the previous connection closed by the server
        run, loop = _run(
            HttpTarget(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", path="/"), rate=10, total=5, max_in_flight=1
        )
    finally:
        srv.close()
    assert list(run.status) == [200] * 5 and not run.errors and loop.opened >= 5


def test_with_every_connection_busy_a_submission_waits_and_is_sent_late(tmp_path):
    with NullServer(tmp_path, service_ms=20) as server:  # 50/s offered 100/s over one connection
        run, loop = _run(HttpTarget(base_url=server.base_url, path="/r"), rate=100, total=20, max_in_flight=1)
    assert set(run.status) == {200} and loop.peak == 1
    lag_ms = [(s - i) / 1e6 for i, s in zip(run.intended, run.send)]
    assert lag_ms[-1] > 50  # the last waited behind the others


def test_busy_answers_and_dropped_connections_are_retried_by_the_policy():
    busy = _BusyOnce()
    busy.start()
    base = f"http://127.0.0.1:{busy.server.server_port}"
    retry = RetryPolicy(statuses=frozenset({503}), max_retries=2, backoff_s=0.02, source="test", transport_errors=True)
    try:
        r503, _ = _run(HttpTarget(base_url=base, path="/r/{workflow_id}", retry=retry), rate=50, total=10)
        dropped, _ = _run(HttpTarget(base_url=base, path="/c/{workflow_id}", retry=retry), rate=50, total=10)
        final, _ = _run(HttpTarget(base_url=base, path="/c/x{workflow_id}"), rate=50, total=10)
    finally:
        busy.server.shutdown()
    for run in (r503, dropped):
        assert set(run.status) == {202} and set(run.retries) == {1} and not run.errors
    assert set(final.status) == {0} and len(final.errors) == 10
    assert all("closed before the response" in e for e in final.errors.values())


def test_a_refused_connection_is_an_error_per_submission():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        run, _ = _run(HttpTarget(base_url=f"http://127.0.0.1:{s.getsockname()[1]}", path="/"), rate=100, total=5)
    assert sorted(run.errors) == list(range(5)) and not any(run.ack)
    assert all(run.send)  # attempted on time: an error, not "never sent"
    assert all(e.startswith("ConnectionRefusedError") for e in run.errors.values())


def test_an_answer_that_never_comes_is_left_unacknowledged_at_the_drain():
    srv = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(srv.accept()), daemon=True).start()
    try:
        run, _ = _run(
            HttpTarget(base_url=f"http://127.0.0.1:{srv.getsockname()[1]}", path="/"), rate=10, total=1, drain_s=0.3
        )
    finally:
        srv.close()
    assert run.send[0] and not run.ack[0] and not run.errors  # recorded by the driver as unanswered
