import sys
import time

import psutil

from harness.sampler import ResourceSampler
from harness.stack.native import NativeStack
from harness.stack.service import ServiceSpec

SPIN = "import time\nend=time.time()+30\nwhile time.time()<end: pass"
SLEEP = "import time; time.sleep(30)"


def test_busy_and_idle_services_are_told_apart(tmp_path):
    with NativeStack(tmp_path) as stack:
        stack.start(ServiceSpec(name="busy", command=[sys.executable, "-c", SPIN]))
        stack.start(ServiceSpec(name="idle", command=[sys.executable, "-c", SLEEP]))
        me = psutil.Process()
        sampler = ResourceSampler(lambda: {**stack.processes(), "harness": me}, stack.roles, hz=10)
        sampler.set_phase("probe")
        sampler.start()
        time.sleep(2.0)
        sampler.stop()
    rows = [r for r in sampler.rows if r["cpu_pct"] is not None]
    mean = lambda svc: sum(r["cpu_pct"] for r in rows if r["service"] == svc) / max(1, sum(r["service"] == svc for r in rows))
    assert mean("busy") > 40, "a spinning process should use most of a core"
    assert mean("idle") < 10
    assert mean("harness") < mean("busy"), "the harness tree must not include the services it started"
    assert sum(r["service"] == "busy" for r in rows) >= 12  # >= 5 Hz (asked for 10) over 2 s
    assert all(r["rss_bytes"] > 0 for r in sampler.rows)
    assert {r["phase"] for r in sampler.rows} == {"probe"}


def test_a_service_started_mid_run_is_sampled_on_the_next_tick(tmp_path):
    with NativeStack(tmp_path) as stack:
        stack.start(ServiceSpec(name="server", command=[sys.executable, "-c", SLEEP]))
        sampler = ResourceSampler(stack.processes, stack.roles, hz=10)
        sampler.start()
        time.sleep(0.3)  # the first tree walk has happened; the next full walk is a second away
        stack.start(ServiceSpec(name="worker", role="worker", command=[sys.executable, "-c", SLEEP]))
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
