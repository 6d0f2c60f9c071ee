"""The worker link behind the network-partition fault (issue 10), for real: a network namespace, a
veth pair and socat forwarders. A worker inside reaches a server bound to 127.0.0.1 through the
link, not once the link is cut, again once it is restored; nothing is left afterwards, and what a
killed harness left is removed by the next command. Needs root, `ip` and `socat` (CI installs them)."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness.model import spec
from harness.model.errors import BenchError
from harness.run.ledger import RunLedger, reap_orphans
from harness.stack.native import InProcessStack
from harness.stack.service import ServiceSpec
from harness.stack.worker_link import WorkerLink

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("socat"),
    reason="needs root, ip (iproute2) and socat",
)


def _echo_server(address: str = "127.0.0.1") -> socket.socket:
    """A server bound to 127.0.0.1 only, as every stack's services are; answers b'ok' to anything."""
    srv = socket.socket()
    srv.bind((address, 0))
    srv.listen()

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                if conn.recv(16):
                    conn.sendall(b"ok")

    threading.Thread(target=serve, daemon=True).start()
    return srv


def _from_inside(link: WorkerLink, port: int, timeout_s: float = 1.5, host: str | None = None) -> str:
    """Connect from inside the namespace, as a worker would, to the link's host address (or `host`)."""
    probe = (
        "import socket,sys\n"
        "try:\n"
        f"    s = socket.create_connection(('{host or link.host_ip}', {port}), timeout={timeout_s}); s.sendall(b'x')\n"
        "    print(s.recv(16).decode())\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", link.netns, sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def _netns_exists(name: str) -> bool:
    return name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_worker_behind_its_link_reaches_the_servers_until_the_link_is_cut(tmp_path):
    srv = _echo_server()
    port = srv.getsockname()[1]
    stack = InProcessStack(tmp_path / "run")
    try:
        host = stack.open_worker_link([port])
        link = stack.link
        assert host == link.host_ip and host.startswith("10.231.")
        assert _from_inside(link, port) == "ok"
        # inside, 127.0.0.1 is the namespace's own loopback: the link is the only way to the server
        assert _from_inside(link, port, host="127.0.0.1") == "ConnectionRefusedError"
        stack.cut_link()
        assert _from_inside(link, port) in ("TimeoutError", "timeout")  # dropped, not refused
        stack.heal_link()
        assert _from_inside(link, port) == "ok"
        worker = link.wrap(ServiceSpec(name="w", role="worker", command=[sys.executable, "-V"]))
        assert worker.command == ["ip", "netns", "exec", link.netns, sys.executable, "-V"]
    finally:
        stack.stop()
        srv.close()
    assert not _netns_exists(link.netns)
    assert subprocess.run(["ip", "link", "show", link.host_if], capture_output=True).returncode != 0


def test_a_port_already_served_on_every_interface_needs_no_forwarder_and_is_cut_all_the_same(tmp_path):
    """Hatchet's API listens on ':<port>': a forwarder could not bind the link's address there."""
    wide, narrow = _echo_server("0.0.0.0"), _echo_server()
    ports = [wide.getsockname()[1], narrow.getsockname()[1]]
    stack = InProcessStack(tmp_path / "run")
    try:
        stack.open_worker_link(ports)
        link = stack.link
        assert [s.name for s in stack.services()] == [f"link-{ports[1]}"]
        assert [_from_inside(link, p) for p in ports] == ["ok", "ok"]
        stack.cut_link()
        assert all(_from_inside(link, p, timeout_s=0.5) in ("TimeoutError", "timeout") for p in ports)
    finally:
        stack.stop()
        wide.close()
        narrow.close()


def test_two_links_get_two_subnets_and_a_stack_without_one_refuses_to_cut(tmp_path):
    first, second = WorkerLink.open("t1"), WorkerLink.open("t2")
    try:
        assert first.index != second.index and first.host_if != second.host_if
    finally:
        first.close()
        second.close()
    with pytest.raises(BenchError, match="no worker link to cut"):
        InProcessStack(tmp_path / "run").cut_link()


def test_a_link_left_by_a_killed_harness_is_removed_by_the_next_command(tmp_path):
    link = WorkerLink.open("killed")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ledger = RunLedger.open("r-killed", tmp_path / "run", root=tmp_path)
    ledger.harness_pid, ledger.harness_started = dead.pid, time.time() - 1000
    ledger.set_link(link.netns, link.host_if)
    lines = reap_orphans(tmp_path)
    assert len(lines) == 1 and f"removed worker link {link.host_if} and namespace {link.netns}" in lines[0]
    assert not _netns_exists(link.netns)


def test_a_partition_fault_block_needs_an_undo_and_the_workers():
    base = {
        "scenario": "network-partition",
        "action": "partition",
        "target": {"role": "worker"},
        "trigger": {"after_tasks": 1},
    }
    assert spec.FaultSpec.model_validate({**base, "undo_after_s": [5]}).action == "partition"
    with pytest.raises(ValueError, match="a partition needs undo_after_s"):
        spec.FaultSpec.model_validate(base)
    with pytest.raises(ValueError, match="its target is {role: worker}"):
        spec.FaultSpec.model_validate({**base, "undo_after_s": [5], "target": {"role": "server"}})
