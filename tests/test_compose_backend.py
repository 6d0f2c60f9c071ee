"""The compose backend's lifecycle without a Docker engine (none exists on our machines or in CI).

The fakes stand in at the library boundary only: python-on-whales' compose verbs and the docker
SDK's containers/images/stats. Each fake method takes exactly the arguments of the real one (bound
against the installed library's signature), so a keyword the real library lacks fails here too.
Everything above them (readiness, one-shots, setup capture, stats parsing, `down -v` on every exit
path, the driver's phases) is the real code.
"""

import functools
import inspect
import time
from pathlib import Path

import pytest
from docker.api.client import APIClient
from docker.models.containers import ContainerCollection
from docker.models.images import ImageCollection
from python_on_whales.components.compose.cli_wrapper import ComposeCLI

from harness.model.errors import BenchError
from harness.stack import compose, compose_stack
from harness.stack.container_stats import ContainerSampler, cpu_percent, memory_bytes, stats_row
from harness.stack.definition import RenderContext
from harness.stack.service import ServiceSpec


# -- fakes at the library boundary ------------------------------------------------------------
def conforms(real, container_call=False):
    """The fake accepts a call only if the real method would: its arguments must bind to the real
    signature. The docker SDK's Container.logs/stats pass **kwargs on to APIClient.logs/stats(container, ...)."""
    signature = inspect.signature(real)

    def wrap(fake):
        @functools.wraps(fake)
        def checked(self, *args, **kw):
            signature.bind(self, *(("container-id",) if container_call else ()), *args, **kw)
            return fake(self, *args, **kw)

        return checked

    return wrap


class FakeContainer:
    def __init__(self, project, service, timeline, number=1, logs=b"starting\nlast words\n", stats=()):
        self.labels = {
            compose.PROJECT_LABEL: project,
            compose.SERVICE_LABEL: service,
            "com.docker.compose.container-number": str(number),
        }
        self.name = f"{project}-{service}-{number}"
        self._timeline, self._logs, self._stats = list(timeline), logs, list(stats)
        self.calls: list[tuple] = []

    @property
    def attrs(self):
        # each inspection moves one step along the timeline, then stays at its last state
        state = self._timeline.pop(0) if len(self._timeline) > 1 else self._timeline[0]
        status, health, code = state
        return {"State": {"Status": status, "ExitCode": code, **({"Health": {"Status": health}} if health else {})}}

    @conforms(APIClient.logs, container_call=True)
    def logs(self, tail=None):
        return self._logs

    @conforms(APIClient.stats, container_call=True)
    def stats(self, stream=True, decode=True):
        yield from self._stats

    # fault operations: each records its call and moves the container to the state it would reach
    @conforms(APIClient.kill, container_call=True)
    def kill(self, signal=None):
        self.calls.append(("kill", signal))
        self._timeline = [("exited", None, 137)]

    @conforms(APIClient.wait, container_call=True)
    def wait(self, timeout=None):
        self.calls.append(("wait",))

    @conforms(APIClient.start, container_call=True)
    def start(self):
        self.calls.append(("start",))
        self._timeline = [("running", "starting", 0), ("running", "healthy", 0)]

    @conforms(APIClient.restart, container_call=True)
    def restart(self, timeout=10):
        self.calls.append(("restart", timeout))
        self._timeline = [("running", "starting", 0), ("running", "healthy", 0)]

    @conforms(APIClient.pause, container_call=True)
    def pause(self):
        self.calls.append(("pause",))

    @conforms(APIClient.unpause, container_call=True)
    def unpause(self):
        self.calls.append(("unpause",))


class FakeEngine:
    def __init__(self):
        self.containers = self
        self.images = self
        self.running: list[FakeContainer] = []

    @conforms(ContainerCollection.list)
    def list(self, all=False, filters=None):
        return list(self.running)

    @conforms(ImageCollection.get)
    def get(self, image):
        return type("Image", (), {"attrs": {"Size": 100 * 2**20}})()


class FakeCompose:
    def __init__(self, engine, plan, calls):
        self.engine, self.plan, self.calls = engine, plan, calls

    @conforms(ComposeCLI.pull)
    def pull(self, **kw):
        self.calls.append(("pull", kw))

    @conforms(ComposeCLI.up)
    def up(self, **kw):
        self.calls.append(("up", kw))
        if self.plan.get("up_raises"):
            raise self.plan["up_raises"]
        self.engine.running = [FakeContainer("p", name, tl) for name, tl in self.plan["timelines"].items()]

    @conforms(ComposeCLI.execute)
    def execute(self, service, command, **kw):
        self.calls.append(("exec", service, command))
        return self.plan.get("exec_out", "")

    @conforms(ComposeCLI.run)
    def run(self, service, command, **kw):
        self.calls.append(("run", service, command, kw))
        return self.plan.get("run_out", "")

    @conforms(ComposeCLI.down)
    def down(self, **kw):
        self.calls.append(("down", kw))
        self.engine.running = []


class FakeWhales:
    def __init__(self, engine, plan):
        self.calls: list = []
        self.compose = FakeCompose(engine, plan, self.calls)


HEALTHY = [("running", "starting", 0), ("running", "healthy", 0)]
DONE = [("running", None, 0), ("exited", None, 0)]


def _stack(tmp_path, platform, timelines, **plan):
    engine = FakeEngine()
    whales = FakeWhales(engine, {"timelines": timelines, **plan})
    (tmp_path / "stamps").mkdir(exist_ok=True)
    stack = compose_stack.ComposeStack(
        compose.load(platform), tmp_path, "run1", tmp_path / "stamps", whales=whales, engine=engine
    )
    stack.ctx = RenderContext("run1", tmp_path, tmp_path)
    return stack, whales


@pytest.fixture
def no_worker_env(monkeypatch):
    """The host-side workers' environment is a real uv install; these tests are about containers."""
    from harness.stack.install import Installed

    monkeypatch.setattr(
        compose_stack.install,
        "python_env",
        lambda platform, packages: Installed(Path("/nonexistent"), True, {}, 0, None),
    )


def _downs(whales):
    return [c for c in whales.calls if c[0] == "down"]


# -- lifecycle --------------------------------------------------------------------------------
def test_up_waits_for_every_healthcheck_and_one_shot(tmp_path, no_worker_env):
    timelines = {
        "postgresql": HEALTHY,
        "temporal-schema": DONE,
        "temporal": [*HEALTHY[:1] * 3, HEALTHY[1]],
        "temporal-namespace": DONE,
        "temporal-ui": HEALTHY,
    }
    stack, whales = _stack(tmp_path, "temporal", timelines)
    assert list(stack.prepare()) == ["install", "pull"]
    sizes = stack.artifacts.images
    assert set(sizes) == set(stack.cdef.images) and all(v > 0 for v in sizes.values())
    assert stack.artifacts.footprint_bytes == sum(sizes.values())
    assert (tmp_path / "compose.env").stat().st_mode & 0o777 == 0o600, "the env file holds the run's secrets"
    ready = list(stack.bring_up())
    assert set(ready) == set(timelines)
    assert ready.index("temporal") > ready.index("postgresql"), "a service polled longer is ready later"
    assert stack.containers_running() == ["postgresql", "temporal", "temporal-ui"]
    stack.stop()
    assert _downs(whales) == [("down", {"volumes": True, "remove_orphans": True, "timeout": 10})]


def test_unhealthy_service_names_itself_and_its_last_log_line(tmp_path):
    timelines = {
        "postgres": HEALTHY,
        "rabbitmq": HEALTHY,
        "hatchet-migration": DONE,
        "hatchet-setup-config": DONE,
        "hatchet-engine": [("running", "starting", 0), ("running", "unhealthy", 0)],
        "hatchet-dashboard": HEALTHY,
    }
    stack, whales = _stack(tmp_path, "hatchet", timelines)
    with pytest.raises(BenchError, match=r"hatchet-engine is unhealthy; last log line: 'last words'"):
        list(stack.bring_up())
    stack.stop()
    assert len(_downs(whales)) == 1, "down -v runs after a failed start"
    assert (tmp_path / "logs" / "hatchet-engine.log").read_bytes() == b"starting\nlast words\n"


def test_failed_one_shot_and_exited_service_fail_start_up(tmp_path):
    timelines = {
        "postgres": HEALTHY,
        "rabbitmq": HEALTHY,
        "hatchet-migration": [("exited", None, 3)],
        "hatchet-setup-config": DONE,
        "hatchet-engine": HEALTHY,
        "hatchet-dashboard": HEALTHY,
    }
    stack, _ = _stack(tmp_path, "hatchet", timelines)
    with pytest.raises(BenchError, match="hatchet-migration exited with code 3"):
        list(stack.bring_up())
    timelines = {
        "postgres": [("exited", None, 1)],
        "redis": HEALTHY,
        "prefect-server": HEALTHY,
        "prefect-services": HEALTHY,
    }
    stack, _ = _stack(tmp_path, "prefect", timelines)
    with pytest.raises(BenchError, match="postgres exited with code 1 during start-up"):
        list(stack.bring_up())


def test_a_stack_that_never_becomes_ready_times_out(tmp_path):
    stack, whales = _stack(
        tmp_path,
        "prefect",
        {
            "postgres": HEALTHY,
            "redis": HEALTHY,
            "prefect-server": [("running", "starting", 0)],
            "prefect-services": [("created", None, 0)],
        },
    )
    stack.cdef.bench.ready_timeout_s = 0.6
    t = time.monotonic()
    with pytest.raises(BenchError, match=r"not ready within 1s: prefect-server, prefect-services"):
        list(stack.bring_up())
    assert time.monotonic() - t < 3
    stack.stop()
    assert len(_downs(whales)) == 1


def test_setup_step_captures_the_token_from_a_fresh_container(tmp_path):
    stack, whales = _stack(tmp_path, "hatchet", {}, run_out="some log line\neyJhbGciOi.token\n")
    assert list(stack.run_setup()) == ["token"]
    assert stack.ctx.secret.token == "eyJhbGciOi.token" and "eyJhbGciOi.token" in stack.secrets()
    run = [c for c in whales.calls if c[0] == "run"][0]
    assert run[1] == "hatchet-setup-config" and "bench-run1" in run[2]
    assert run[3]["dependencies"] is False and run[3]["remove"] is True


def test_down_runs_even_when_stopping_host_workers_fails(tmp_path):
    stack, whales = _stack(tmp_path, "prefect", {"postgres": HEALTHY})
    stack._up = True
    stack.group.stop = lambda: (_ for _ in ()).throw(RuntimeError("worker would not die"))
    with pytest.raises(BenchError, match="host processes: worker would not die"):
        stack.stop()
    assert len(_downs(whales)) == 1


def test_watchdog_notices_a_container_that_stopped(tmp_path):
    stack, _ = _stack(
        tmp_path,
        "prefect",
        {"postgres": HEALTHY, "redis": HEALTHY, "prefect-server": HEALTHY, "prefect-services": HEALTHY},
    )
    list(stack.bring_up())
    stack._checked_at = 0
    stack.engine.running[2]._timeline = [("exited", None, 137)]
    with pytest.raises(BenchError, match="prefect-server container stopped with exit code 137"):
        stack.check_alive()


def test_fault_operations_on_containers_and_host_workers(tmp_path):
    stack, _ = _stack(
        tmp_path,
        "prefect",
        {"postgres": HEALTHY, "redis": HEALTHY, "prefect-server": HEALTHY, "prefect-services": HEALTHY},
    )
    list(stack.bring_up())
    server = stack.containers()["prefect-server"]
    stack.kill("prefect-server")
    assert server.calls[:2] == [("kill", "SIGKILL"), ("wait",)]
    stack._checked_at = 0
    stack.check_alive()  # stopped on purpose: not a death
    stack.start("prefect-server")
    stack._checked_at = 0
    stack.check_alive()
    stack.restart("postgres")
    stack.pause("redis")
    stack.resume("redis")
    assert stack.containers()["postgres"].calls == [("restart", 10)]
    assert stack.containers()["redis"].calls == [("pause",), ("unpause",)]
    with pytest.raises(BenchError, match=r"no service 'ghost' in this stack; services: postgres, redis"):
        stack.kill("ghost")
    stack.start_worker(ServiceSpec(name="worker", role="worker", command=["sleep", "30"]))
    stack.kill("worker")  # the harness's own worker: a host process, not a container
    assert "worker" not in stack.processes()
    stack.start("worker")
    assert "worker" in stack.processes()
    assert {s.name for s in stack.services()} == {"postgres", "redis", "prefect-server", "prefect-services", "worker"}
    stack.stop()


# -- stats -----------------------------------------------------------------------------------
def _stats(total, pre_total, system, pre_system, usage=300 * 2**20, inactive=100 * 2**20, cores=2, v1=False):
    detail = {"total_inactive_file" if v1 else "inactive_file": inactive}
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": cores},
        "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system},
        "memory_stats": {"usage": usage, "stats": detail},
        "pids_stats": {"current": 7},
    }


def test_cpu_and_memory_follow_the_docker_cli_formulas():
    # 0.5 s of the container's CPU over 2 s of both cores' time (4 s of CPU): 25% of the machine = 50% of a core
    assert cpu_percent(_stats(1.5e9, 1.0e9, 6e9, 4e9)) == pytest.approx(50.0)
    assert memory_bytes(_stats(0, 0, 0, 0)) == 200 * 2**20
    assert memory_bytes(_stats(0, 0, 0, 0, v1=True)) == 200 * 2**20
    first = _stats(1, 0, 1, 0)
    del first["precpu_stats"]["system_cpu_usage"]
    assert cpu_percent(first) is None, "the first reading of a stream has nothing to compare with"
    assert stats_row({"memory_stats": {}}, "x", "server", "idle") is None, "a stopped container reports nothing"


def test_container_sampler_rows_share_the_native_schema(tmp_path):
    readings = [_stats(1.5e9 + i * 1e8, 1.0e9 + i * 1e8, 6e9 + i, 4e9 + i) for i in range(3)]
    containers = {
        "windmill_server": FakeContainer("p", "windmill_server", [HEALTHY[1]], stats=readings),
        "windmill_worker-2": FakeContainer("p", "windmill_worker", [HEALTHY[1]], number=2, stats=readings),
    }
    sampler = ContainerSampler(lambda: containers, {"windmill_server": "server", "windmill_worker": "worker"})
    sampler.set_phase("idle")
    sampler.start(every_s=0.05)
    time.sleep(0.3)
    sampler.stop()
    rows = sampler.take_rows()
    assert len(rows) == 6
    assert {(r["service"], r["role"]) for r in rows} == {("windmill_server", "server"), ("windmill_worker-2", "worker")}
    assert set(rows[0]) == {"t_ns", "phase", "service", "role", "cpu_pct", "rss_bytes", "pss_bytes", "procs", "source"}
    assert {r["source"] for r in rows} == {"docker-stats"} and {r["phase"] for r in rows} == {"idle"}


def test_the_fakes_refuse_what_the_real_libraries_refuse(tmp_path):
    stack, whales = _stack(tmp_path, "prefect", {})
    with pytest.raises(TypeError):
        whales.compose.up(detach=True, quiett=True)
    with pytest.raises(TypeError):
        whales.compose.run("svc", ["true"], no_deps=True)  # python-on-whales spells it dependencies=False
    with pytest.raises(TypeError):
        FakeContainer("p", "svc", [("running", None, 0)]).logs(tail=5, lines=3)
    assert whales.compose.down(volumes=True, remove_orphans=True, timeout=10) is None


@pytest.mark.skipif(not __import__("shutil").which("docker"), reason="python-on-whales needs the docker client binary")
def test_the_real_client_runs_compose_on_the_stack_file_with_the_run_env_and_project(tmp_path):
    cdef = compose.load("kestra")
    client = compose.make_whales(cdef, tmp_path / "compose.env", "bench-run1")
    args = [str(a) for a in client.client_config.docker_compose_cmd[1:]]
    assert args == [
        "compose",
        "--file",
        str(cdef.path),
        "--env-file",
        str(tmp_path / "compose.env"),
        "--project-name",
        "bench-run1",
        "--project-directory",
        str(cdef.path.parent),
    ]
