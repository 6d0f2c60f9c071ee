"""The run submitted during a fault: what its answer was (real HTTP servers on loopback) and what the
verdict makes of its answer, its final status and its stamps."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.analysis.fault_detail import describe_probe, probe_verdict
from harness.faults.probe import probe_id, probe_sender
from harness.load.schedule import HttpTarget, RetryPolicy
from harness.model.fault_record import FaultLog, SubmissionProbe

from .test_faults import host  # noqa: F401 (a fixture)
from .test_harness_faults import _Silent

WF = "bench-r1-rep-1-probe-0"


@pytest.fixture
def server():
    """Answers each POST with the next status of `answers` (the last one repeats) and keeps the bodies."""
    state = {"answers": [202], "bodies": [], "paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            state["bodies"].append(self.rfile.read(int(self.headers["Content-Length"])))
            state["paths"].append(self.path)
            code = state["answers"].pop(0) if len(state["answers"]) > 1 else state["answers"][0]
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'{"detail": "database is paused"}' if code >= 400 else b"{}")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()


def _target(url, retry=None):
    return HttpTarget(base_url=url, path="/runs/{workflow_id}", body={"id": "{workflow_id}", "tasks": 1}, retry=retry)


def _sent(target, timeout_s=5.0) -> SubmissionProbe:
    probe = SubmissionProbe(workflow_id=WF, sent_ns=1)
    probe_sender(target, timeout_s)(probe)
    return probe


def test_an_accepted_probe_carries_its_own_id_in_path_and_body(server):
    probe = _sent(_target(server["url"]))
    assert probe.http_status == 202 and probe.error is None and probe.answered_ns > probe.sent_ns
    assert server["paths"] == [f"/runs/{WF}"] and server["bodies"] == [f'{{"id":"{WF}","tasks":1}}'.encode()]


def test_answers_the_platforms_client_retries_are_retried_and_an_error_answer_is_a_refusal(server):
    policy = RetryPolicy(statuses=frozenset({503}), max_retries=3, backoff_s=0.01, source="test")
    server["answers"] = [503, 503, 202]
    probe = _sent(_target(server["url"], policy))
    assert probe.http_status == 202 and probe.retries == 2
    server["answers"] = [500]
    probe = _sent(_target(server["url"], policy))
    assert probe.http_status == 500 and probe.retries == 0 and "database is paused" in probe.error
    assert probe_verdict(probe, []).verdict == "refused"


def test_a_closed_port_is_refused_and_a_silent_server_is_no_answer():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on leaving: nothing listens there
    refused = _sent(_target(f"http://127.0.0.1:{port}"))
    assert refused.answered_ns is not None and "ConnectError" in refused.error
    assert probe_verdict(refused, []).verdict == "refused"
    silent = _Silent()
    try:
        quiet = _sent(_target(f"http://127.0.0.1:{silent.port}"), timeout_s=0.3)
    finally:
        silent.close()
    assert quiet.answered_ns is None and quiet.error == "no answer within 0.3s"
    assert probe_verdict(quiet, []).verdict == "no-answer"


@pytest.mark.parametrize(
    "status,stamped,verdict",
    [
        ("completed", True, "queued"),
        ("completed", False, "lost"),
        ("timeout", False, "lost"),
        ("not found", False, "lost"),
        ("failed", False, "failed"),
        ("crashed", True, "failed"),
        ("unknown (ConnectError: x)", False, None),
    ],
)
def test_an_accepted_probes_verdict_comes_from_its_final_status_and_its_stamps(status, stamped, verdict):
    probe = SubmissionProbe(workflow_id=WF, sent_ns=10**9, answered_ns=2 * 10**9, http_status=201, final_status=status)
    stamps = [{"workflow_id": WF, "index": 0, "body_end_ns": 5 * 10**9}] if stamped else []
    stamps.append({"workflow_id": "bench-r1-rep-1-0", "index": 0, "body_end_ns": 9 * 10**9})
    done = probe_verdict(probe, stamps)
    assert done.verdict == verdict and done.ended_ns == (5 * 10**9 if stamped else None)
    line = describe_probe(
        done, FaultLog(service="db", role="database", undo_after_s=15, fired_ns=0, undone_ns=15 * 10**9)
    )
    assert line.startswith("a run submitted 1.0s after the fault (while the fault was in force)")
    assert ("its task ended 4.0s after it was sent" in line) == stamped


def test_the_probe_is_named_beside_the_repetitions_runs():
    assert probe_id("bench-20261203T1-x-rep-2-0") == "bench-20261203T1-x-rep-2-probe-0"


def test_the_runner_sends_one_probe_a_second_after_firing_and_none_for_a_scale_out(host):
    from harness.faults.runner import FaultRunner

    from .test_faults import fault

    stack, stamps = host
    sent = []
    runner = FaultRunner(
        fault(action="pause", target={"role": "server"}, trigger={"at_s": 0.05}, undo_after_s=[60]),
        stack,
        stamps,
        "rep-1",
        "bench-x-rep-1-0",
        turn=0,
        send_probe=sent.append,
    )
    runner.start()
    time.sleep(1.5)
    log = runner.stop()
    assert [p.workflow_id for p in sent] == ["bench-x-rep-1-probe-0"] and log.probe is sent[0]
    assert (log.probe.sent_ns - log.fired_ns) / 1e9 == pytest.approx(1.0, abs=0.3)
    assert log.probe.sent_ns < log.undone_ns, "sent while the server was frozen"
    scale = FaultRunner(
        fault(action="scale-out", add_workers=1, trigger={"at_s": 0}, undo_after_s=[]),
        stack,
        stamps,
        "rep-1",
        "bench-x-rep-1-0",
        turn=0,
        more_workers=lambda n, tag: [],
        send_probe=sent.append,
    )
    scale.start()
    time.sleep(1.3)
    assert scale.stop().probe is None and len(sent) == 1
