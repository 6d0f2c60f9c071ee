"""Local processes as services: readiness, failures, and nothing left running."""

import sys
import time

import psutil
import pytest

from harness.model.errors import BenchError
from harness.stack.ports import free_port, is_free
from harness.stack.processes import ProcessGroup
from harness.stack.service import ReadyCheck, ServiceSpec


def http_server(port: int, name="web", timeout_s=20.0) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        command=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ports={"http": port},
        ready=ReadyCheck(http=f"http://127.0.0.1:{port}/", timeout_s=timeout_s),
    )


def test_start_ready_stop_leaves_nothing(tmp_path):
    port = free_port()
    with ProcessGroup(tmp_path) as stack:
        running = stack.start(http_server(port))
        pid = running.pid
        assert not is_free(port)
        assert set(stack.processes()) == {"web"}
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert is_free(port)


def test_whole_process_tree_is_stopped(tmp_path):
    # a service that forks a grandchild: both must go
    script = (
        "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(300)']); "
        "time.sleep(300)"
    )
    stack = ProcessGroup(tmp_path)
    running = stack.start(ServiceSpec(name="forker", command=[sys.executable, "-c", script]))
    time.sleep(0.5)
    tree = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    assert len(tree) == 2
    stack.stop()
    gone, alive = psutil.wait_procs(tree, timeout=5)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_port_in_use_is_one_clear_error(tmp_path):
    port = free_port()
    with ProcessGroup(tmp_path) as stack:
        stack.start(http_server(port, name="first"))
        with pytest.raises(BenchError, match=rf"port {port} on 127.0.0.1 is already in use \(needed by second"):
            stack.start(http_server(port, name="second"))


def test_service_that_exits_reports_its_last_log_line(tmp_path):
    spec = ServiceSpec(
        name="crasher",
        command=[sys.executable, "-c", "print('bad config: x'); raise SystemExit(3)"],
        ready=ReadyCheck(tcp=free_port(), timeout_s=10),
    )
    with ProcessGroup(tmp_path) as stack:
        with pytest.raises(
            BenchError, match=r"crasher exited with code 3 before it was ready; last log line: 'bad config: x'"
        ):
            stack.start(spec)


def test_service_never_ready_times_out(tmp_path):
    spec = ServiceSpec(
        name="sleeper",
        command=[sys.executable, "-c", "import time; time.sleep(60)"],
        ready=ReadyCheck(tcp=free_port(), timeout_s=1.0),
    )
    stack = ProcessGroup(tmp_path)
    started = time.monotonic()
    with pytest.raises(BenchError, match=r"sleeper not ready after 1s \(TCP 127.0.0.1:\d+\)"):
        stack.start(spec)
    assert time.monotonic() - started < 5
    pid = stack.services[0].pid
    stack.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_check_alive_notices_a_dead_service(tmp_path):
    with ProcessGroup(tmp_path) as stack:
        running = stack.start(ServiceSpec(name="worker", command=[sys.executable, "-c", "import time; time.sleep(60)"]))
        stack.check_alive()
        psutil.Process(running.pid).kill()
        running.popen.wait(5)
        with pytest.raises(BenchError, match="worker died with exit code -9"):
            stack.check_alive()


def test_a_oneshot_is_retried_until_it_succeeds_and_names_its_deadline_when_it_never_does(tmp_path):
    counter = tmp_path / "attempts"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); n = len(p.read_text()) if p.exists() else 0; "
        "p.write_text('x' * (n + 1)); print('attempt', n + 1); raise SystemExit(0 if n >= 2 else 1)"
    )
    spec = ServiceSpec(name="schema", command=[sys.executable, "-c", script, str(counter)], retry_s=10)
    with ProcessGroup(tmp_path) as stack:
        assert stack.run_oneshot(spec).strip() == "attempt 3" and counter.read_text() == "xxx"
        counter.unlink()
        started = time.monotonic()
        with pytest.raises(
            BenchError,
            match=r"^schema failed with exit code 1 \(retried for 0\.2s\); "
            r"last log line: 'attempt 2'$",
        ):
            stack.run_oneshot(ServiceSpec(name="schema", command=spec.command, retry_s=0.2))
        assert time.monotonic() - started < 5 and counter.read_text() == "xx", "retried every 0.5 s until 0.2 s passed"
        counter.unlink()
        with pytest.raises(BenchError, match=r"^schema failed with exit code 1; last log line: 'attempt 1'$"):
            stack.run_oneshot(ServiceSpec(name="schema", command=spec.command))  # retry_s 0: one attempt


def test_missing_executable(tmp_path):
    with ProcessGroup(tmp_path) as stack:
        with pytest.raises(BenchError, match="executable not found: /nonexistent/server"):
            stack.start(ServiceSpec(name="ghost", command=["/nonexistent/server"]))


def _listens_after(delay_s: float) -> list[str]:
    script = (
        "import socket, sys, time; time.sleep(float(sys.argv[1])); s = socket.socket(); "
        "s.bind(('127.0.0.1', int(sys.argv[2]))); s.listen(); time.sleep(60)"
    )
    return [sys.executable, "-c", script, str(delay_s)]


def test_services_after_the_same_step_start_side_by_side_and_each_gets_its_own_ready_time(tmp_path):
    from harness.stack import definition
    from harness.stack.native import NativeStack

    def svc(name, delay, after):
        return {
            "name": name,
            "command": [*_listens_after(delay), f"{{port.{name}}}"],
            "ports": [name],
            "ready": {"tcp": f"{{port.{name}}}", "timeout_s": 20},
            **({"after": after} if after else {}),
        }

    defn = definition.StackDef.model_validate(
        {
            "platform": "t",
            "variants": {"v": {}},
            "services": [
                {"name": "setup", "kind": "oneshot", "command": [sys.executable, "-c", "pass"]},
                svc("slow", 1.5, ["setup"]),
                svc("fast", 0.2, ["setup"]),
                svc("last", 0.0, None),
            ],
        }
    )
    stack = NativeStack(defn, None, tmp_path, "r1")
    stack.rendered = definition.render(defn, "v", definition.RenderContext("r1", tmp_path, tmp_path))
    started, ready_at = time.monotonic(), {}
    try:
        for name in stack.bring_up():
            ready_at[name] = time.monotonic() - started
    finally:
        stack.stop()
    assert list(ready_at) == ["setup", "fast", "slow", "last"], "each yielded as it became ready"
    assert ready_at["fast"] < 1.0 < ready_at["slow"] < 2.5, ready_at  # not 1.5 + 0.2 one after the other
    assert ready_at["last"] >= ready_at["slow"], "a step without `after` waits for every earlier one"


def test_after_must_name_an_earlier_step():
    from harness.stack import definition

    with pytest.raises(ValueError, match="b: after names c, not an earlier step"):
        definition.StackDef.model_validate(
            {
                "platform": "t",
                "variants": {"v": {}},
                "services": [
                    {"name": "a", "command": ["x"]},
                    {"name": "b", "command": ["x"], "after": ["c"]},
                    {"name": "c", "command": ["x"]},
                ],
            }
        )
