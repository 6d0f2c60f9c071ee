"""Fault operations on real processes: kill, start again, restart, pause and resume a service, and
the stack recovering. The fault experiments are built on exactly these calls."""

import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from harness import platforms
from harness.model.errors import BenchError
from harness.stack.base import FaultUnsupported
from harness.stack.external import ExternalConfig, ExternalStack
from harness.stack.factory import StackRequest, open_stack
from harness.stack.ports import free_port
from harness.stack.processes import ProcessGroup
from harness.stack.service import ReadyCheck, ServiceSpec

from .conftest import require_runnable


def http_server(port: int, name="web") -> ServiceSpec:
    return ServiceSpec(
        name=name,
        command=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ports={"http": port},
        ready=ReadyCheck(http=f"http://127.0.0.1:{port}/", timeout_s=20),
    )


def answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_kill_then_start_again(tmp_path):
    port = free_port()
    with ProcessGroup(tmp_path) as group:
        first = group.start(http_server(port)).pid
        group.kill("web")
        assert not answers(port)
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        group.check_alive()  # a service stopped on purpose is not a death
        assert "web" not in group.processes()
        group.start_again("web")
        assert answers(port) and group.processes()["web"].pid != first
        group.check_alive()


def test_restart_is_a_graceful_stop_then_a_start(tmp_path):
    port = free_port()
    with ProcessGroup(tmp_path) as group:
        first = group.start(http_server(port)).pid
        group.restart("web")
        assert answers(port) and group.processes()["web"].pid != first


def test_pause_freezes_and_resume_thaws(tmp_path):
    port = free_port()
    with ProcessGroup(tmp_path) as group:
        proc = psutil.Process(group.start(http_server(port)).pid)
        group.pause("web")
        assert proc.status() == psutil.STATUS_STOPPED
        assert not answers(port, timeout=0.5), "a paused server accepts the connection but never answers"
        group.check_alive()
        group.resume("web")
        assert answers(port)
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, "a paused service is stopped too"


def test_a_paused_service_is_stopped_at_tear_down(tmp_path):
    group = ProcessGroup(tmp_path)
    proc = psutil.Process(group.start(http_server(free_port())).pid)
    group.pause("web")
    started = time.monotonic()
    group.stop()
    assert time.monotonic() - started < 10, "SIGTERM reached the paused process (SIGCONT was sent)"
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


def test_fault_operations_name_their_problem(tmp_path):
    with ProcessGroup(tmp_path) as group:
        group.start(http_server(free_port()))
        with pytest.raises(BenchError, match=r"no service 'ghost' in this stack; services: web"):
            group.kill("ghost")
        with pytest.raises(BenchError, match="web is running; only a stopped service can be started again"):
            group.start_again("web")
        with pytest.raises(BenchError, match="web is running, not paused"):
            group.resume("web")


def test_external_backend_refuses_faults_on_the_deployment_but_not_on_its_workers(tmp_path):
    stack = ExternalStack(ExternalConfig(endpoints={"api_url": "http://127.0.0.1:1/api"}), [], "prefect", tmp_path)
    with stack:
        stack.start_worker(http_server(free_port(), name="worker"))
        with pytest.raises(
            FaultUnsupported,
            match=r"the external backend cannot kill 'server': the deployment is not "
            r"run by the harness \(only its own workers can be: worker\)",
        ):
            stack.kill("server")
        stack.kill("worker", signal.SIGKILL)
        stack.start("worker")


def _temporal(args: list[str], stack) -> subprocess.CompletedProcess:
    cli = str(stack.artifacts.env_bin / "temporal")
    frontend = stack.endpoints()["frontend"]
    return subprocess.run(
        [cli, *args, "--address", frontend, "--namespace", stack.endpoints()["namespace"]],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _recovers(stack, timeout_s: float = 90) -> bool:
    """The frontend answers a call that goes through history and PostgreSQL (workflow count)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _temporal(["workflow", "count"], stack).returncode == 0:
            return True
        time.sleep(1)
    return False


@pytest.mark.integration
def test_temporal_stack_recovers_from_killed_postgres_and_history_and_a_paused_matching(tmp_path):
    require_runnable("temporal")
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    stack = open_stack(platforms.get("temporal"), StackRequest(tmp_path, "faults", stamps, backend="native"))
    with stack:
        for _ in stack.prepare():
            pass
        for _ in stack.bring_up():
            pass
        assert _recovers(stack)
        pg = stack.processes()["postgres"].pid
        stack.kill("postgres")  # SIGKILL: crash recovery on the next start
        assert not psutil.pid_exists(pg) or psutil.Process(pg).status() == psutil.STATUS_ZOMBIE
        stack.check_alive()
        stack.start("postgres")  # waits for pg_isready; initdb is not run again
        assert _recovers(stack), "temporal answers again once PostgreSQL is back"
        stack.restart("history")
        assert _recovers(stack), "and after its history service restarted"
        stack.pause("matching")
        assert psutil.Process(stack.processes()["matching"].pid).status() == psutil.STATUS_STOPPED
        stack.resume("matching")
        assert _recovers(stack)
        stack.check_alive()
