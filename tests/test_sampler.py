import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import psutil

from harness.run.sampler import ResourceSampler, build_trees, read_stat

SPIN = "import time\nend=time.time()+30\nwhile time.time()<end: pass"
SLEEP = "import time; time.sleep(30)"


class Services:
    """Service processes started by this (harness) process, each in its own process group, as a
    stack starts them; independent of any stack backend so the sampler is tested on its own."""

    def __init__(self):
        self.procs: dict[str, subprocess.Popen] = {}
        self.role: dict[str, str] = {}

    def start(self, name: str, code: str, role: str = "server") -> None:
        self.procs[name] = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        self.role[name] = role

    def processes(self) -> dict[str, psutil.Process]:
        return {name: psutil.Process(p.pid) for name, p in self.procs.items()}

    def roles(self) -> dict[str, str]:
        return dict(self.role)


@contextmanager
def services():
    s = Services()
    try:
        yield s
    finally:
        for p in s.procs.values():
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_busy_and_idle_services_are_told_apart():
    with services() as stack:
        stack.start("busy", SPIN)
        stack.start("idle", SLEEP)
        me = psutil.Process()
        sampler = ResourceSampler(lambda: {**stack.processes(), "harness": me}, stack.roles, hz=10)
        sampler.set_phase("probe")
        sampler.start()
        time.sleep(2.0)
        sampler.stop()
    rows = [r for r in sampler.rows if r["cpu_pct"] is not None]
    mean = lambda svc: (
        sum(r["cpu_pct"] for r in rows if r["service"] == svc) / max(1, sum(r["service"] == svc for r in rows))
    )
    assert mean("busy") > 40, "a spinning process should use most of a core"
    assert mean("idle") < 10
    assert mean("harness") < mean("busy"), "the harness tree must not include the services it started"
    assert sum(r["service"] == "busy" for r in rows) >= 12  # >= 5 Hz (asked for 10) over 2 s
    assert all(r["rss_bytes"] > 0 for r in sampler.rows)
    assert {r["phase"] for r in sampler.rows} == {"probe"}
    assert all(r["procs"] == 1 for r in sampler.rows if r["service"] in ("busy", "idle"))


def test_a_service_started_mid_run_is_sampled_on_the_next_tick():
    with services() as stack:
        stack.start("server", SLEEP)
        sampler = ResourceSampler(stack.processes, stack.roles, hz=10)
        sampler.start()
        time.sleep(0.3)  # the first tree walk has happened; the next full walk is a second away
        stack.start("worker", SLEEP, role="worker")
        started = time.monotonic()
        while not any(r["service"] == "worker" for r in sampler.take_rows()) and time.monotonic() - started < 2:
            time.sleep(0.02)
        waited = time.monotonic() - started
        sampler.stop()
    assert any(r["role"] == "worker" for r in sampler.rows)
    assert waited < 0.5, f"worker first sampled {waited:.2f} s after it started"


def test_a_service_added_during_a_tree_walk_is_not_missed():
    """CI once lost Temporal's worker: it was registered while the sampler walked the process trees,
    so the names taken after the walk already listed it and no re-walk followed for a second."""
    me = psutil.Process()
    services = {"server": me}
    roles = {"server": "server"}

    def lookup_processes():
        found = dict(services)
        services["worker"], roles["worker"] = me, "worker"  # registered right after the lookup
        return found

    sampler = ResourceSampler(lookup_processes, lambda: dict(roles), hz=10)
    sampler.sample_once()
    sampler.sample_once()  # the very next tick must walk again and find the worker
    assert "worker" in {r["service"] for r in sampler.rows}


def test_children_of_a_service_are_charged_to_it_and_pss_is_read(monkeypatch):
    forks = (
        "import subprocess,sys,time; "
        "[subprocess.Popen([sys.executable,'-c','import time; time.sleep(30)']) for _ in range(2)]; time.sleep(30)"
    )
    with services() as stack:
        stack.start("db", forks, role="database")
        deadline = time.monotonic() + 10
        while len(stack.processes()["db"].children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        sampler = ResourceSampler(stack.processes, stack.roles, hz=10)
        sampler.sample_once()
        sampler.sample_once()
    rows = [r for r in sampler.rows if r["service"] == "db"]
    assert [r["procs"] for r in rows] == [3, 3]
    assert all(0 < r["pss_bytes"] <= r["rss_bytes"] for r in rows)


def test_nested_services_are_charged_to_themselves():
    ppids = {1: 0, 10: 1, 11: 10, 20: 10, 21: 20, 22: 21}  # pid: parent
    trees = build_trees({"harness": 10, "worker": 20, "gone": 99}, ppids)
    assert sorted(trees["harness"]) == [10, 11]
    assert sorted(trees["worker"]) == [20, 21, 22]
    assert "gone" not in trees


def test_read_stat_agrees_with_psutil():
    proc = psutil.Process()
    st = read_stat(proc.pid)
    times = proc.cpu_times()
    assert st.ppid == proc.ppid()
    assert abs(st.cpu_s - (times.user + times.system)) < 0.05
    assert abs(st.rss_bytes - proc.memory_info().rss) < 4 * 2**20
    assert abs(psutil.boot_time() + st.start_s - proc.create_time()) < 1.5
    assert read_stat(2**22 + 1) is None
