"""What a stack listens on beyond loopback: found from real processes, declared or the end of the run."""

import json
import subprocess
import sys

import psutil
import pytest

from harness.model.errors import BenchError
from harness.platforms.null import NullAdapter
from harness.run.driver import RunOptions, run
from harness.stack import listeners
from harness.stack.native import InProcessStack
from harness.stack.service import ReadyCheck, ServiceSpec

from .conftest import small, stacks_with

LISTEN = (
    "import socket, sys, time; s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(); "
    "print(s.getsockname()[1], flush=True); sys.argv[2:] and open(sys.argv[2], 'w').close(); time.sleep(600)"
)


def _listening(address: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", LISTEN, address], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


@pytest.fixture
def two_servers():
    (wide, wide_port), (local, _) = _listening("0.0.0.0"), _listening("127.0.0.1")
    yield {"wide": psutil.Process(wide.pid), "local": psutil.Process(local.pid)}, wide_port
    for p in (wide, local):
        p.kill()
        p.wait()


def test_only_listeners_beyond_loopback_are_found_and_named_by_service(two_servers):
    processes, port = two_servers
    found = listeners.beyond_loopback(processes)
    assert [str(x) for x in found] == [f"wide tcp 0.0.0.0:{port}"]
    assert port in listeners.wildcard_ports()


@pytest.mark.parametrize(
    "ip,loopback",
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.231.0.1", False),
        ("fe80::1%eth0", False),
    ],
)
def test_loopback_addresses(ip, loopback):
    assert listeners._loopback(ip) is loopback


class WideWorker(NullAdapter):
    """The null platform with a worker process that listens on every interface."""

    name = "wide"
    role = "worker"

    def workers(self, deployment):
        ready = str(deployment.run_dir / "wide.ready")
        return [
            ServiceSpec(
                name="worker",
                role=self.role,
                command=[sys.executable, "-c", LISTEN, "0.0.0.0", ready],
                ready=ReadyCheck(file=ready, timeout_s=10),
            )
        ]


def test_an_undeclared_listener_ends_the_run_and_a_declared_one_is_recorded(tmp_path, monkeypatch):
    stacks_with(tmp_path / "stacks", monkeypatch, in_process={"wide": f"{__name__}:WideWorker"})
    wl = small("latency-probe", runs=1, repetitions=1)
    with pytest.raises(BenchError, match=r"listening beyond loopback: worker tcp 0\.0\.0\.0:\d+ \(every stack binds"):
        run(RunOptions("wide", wl, results_root=tmp_path / "a"))
    # the harness's own forwarders (a worker link's socat, role "harness") listen on the link's address
    monkeypatch.setattr(WideWorker, "role", "harness")
    doc = json.loads((run(RunOptions("wide", wl, results_root=tmp_path / "c")) / "run.json").read_text())
    assert doc["status"] == "complete" and doc["beyond_loopback"] == []
    monkeypatch.setattr(WideWorker, "role", "worker")
    monkeypatch.setattr(InProcessStack, "beyond_loopback", lambda self: {"worker": "no setting for its address"})
    doc = json.loads((run(RunOptions("wide", wl, results_root=tmp_path / "b")) / "run.json").read_text())
    assert doc["status"] == "complete"
    [entry] = doc["beyond_loopback"]
    assert entry.startswith("worker tcp 0.0.0.0:") and entry.endswith(" (no setting for its address)")
