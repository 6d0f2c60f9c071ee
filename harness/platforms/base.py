"""The adapter interface every platform implements (a YCSB "binding").

Adapters connect, deploy, submit and read the engine's own records. They never time anything:
the driver takes every harness-side timestamp around their calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.model.engine import EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.registry import platforms
from harness.model.spec import WorkerPool, Workload
from harness.stack.service import ServiceSpec
from harness.workers.taskbody import WORKER_NAME_ENV

if TYPE_CHECKING:
    from harness.load.schedule import HttpTarget

# Where compose files mount the run's stamp folder into the containers that run task bodies
# (platforms whose tasks run inside the engine's own containers: Windmill, Kestra).
STAMPS_MOUNT = "/bench-stamps"


def deployable(workload: Workload) -> Workload:
    """The workload adapters deploy: itself, or for the idle workload a one-task no-op chain, so an
    idle stack has its workers registered as under load (Hatchet refuses a workflow without tasks)
    and no adapter needs an idle case of its own. The driver calls this; nothing is submitted."""
    if workload.shape == "sweep":  # each run a chain of `tasks`; the rate is the generator's business
        return Workload.model_validate({**workload.model_dump(), "shape": "chain", "sweep": None})
    if workload.shape != "idle":
        return workload
    return Workload.model_validate(
        {**workload.model_dump(), "shape": "chain", "tasks": 1, "duration_s": 0, "task": {"op": "noop", "n": 0}}
    )


def request_params(workload: Workload, workflow_id: str) -> dict:
    """The parameters of one run of `workload` (a chain or fan-out), as WorkflowRequest.params()
    gives them; the HTTP submission paths send these with "{workflow_id}" filled in per run."""
    shape = "chain" if workload.shape == "sweep" else workload.shape
    return WorkflowRequest(workflow_id, shape, workload.tasks, workload.task.op, workload.task.n).params()


def replicas(spec: ServiceSpec, processes: int) -> list[ServiceSpec]:
    """`processes` copies of a worker service: "worker", "worker-2", ...; each with its own ready file."""
    return [spec, *(worker_copy(spec, str(k)) for k in range(2, processes + 1))]


def worker_copy(spec: ServiceSpec, suffix: str) -> ServiceSpec:
    """Another process of a worker service, "<name>-<suffix>", with its own ready file and its name
    in the stamps of the bodies it runs (a scale-out adds these while a workload runs)."""
    env = {**spec.env, WORKER_NAME_ENV: f"{spec.name}-{suffix}"} if WORKER_NAME_ENV in spec.env else dict(spec.env)
    ready = spec.ready
    if ready is not None and ready.file:
        env["BENCH_READY_FILE"] = f"{ready.file}-{suffix}"
        ready = dataclasses.replace(ready, file=f"{ready.file}-{suffix}")
    return dataclasses.replace(spec, name=f"{spec.name}-{suffix}", env=env, ready=ready)


@dataclass
class Deployment:
    run_id: str
    workload: Workload
    run_dir: Path
    stamps_dir: Path
    env_bin: Path  # bin/ of the platform's installed environment (python, CLIs)
    endpoints: dict[str, str]

    @property
    def names(self) -> str:
        """Prefix for every queue, deployment and workflow this run creates."""
        return f"bench-{self.run_id}"


@dataclass(frozen=True)
class Requirement:
    what: str
    ok: bool
    fix: str = ""


class _RegistryName:
    """An adapter's `name` is its platform's, which only the registry knows (the stacks/<name>/ folder
    whose platform.yaml names the class), so no adapter repeats it. adapter_class(name) returns the
    class with the name set (one class may stand for several platforms); an adapter class used directly
    (the adapters' own tests) finds it here: the one platform whose `adapter:` is this class."""

    def __get__(self, obj: object, owner: type) -> str:
        path = f"{owner.__module__}:{owner.__qualname__}"
        names = [n for n, info in platforms().items() if info.adapter == path]
        if len(names) != 1:
            raise BenchError(
                f"{path} is the adapter of {', '.join(names) or 'no registered platform'}: "
                f"ask harness.platforms.adapter_class(name) for it"
            )
        return names[0]


class Adapter(ABC):
    name: ClassVar[str] = _RegistryName()  # type: ignore[assignment]  # the platform's registry name
    settings: ClassVar[dict[str, dict]] = {}  # non-default settings of the adapter's workers
    # How often wait() asks the engine whether a run is final (None: the SDK long-polls or streams
    # the result). It bounds the resolution of workflow_e2e, so the driver records it with the run.
    wait_poll_s: ClassVar[float | None]

    def requirements(self) -> list[Requirement]:
        """What this machine needs to run the platform natively (bench doctor)."""
        return []

    @abstractmethod
    def connect(self, deployment: Deployment) -> None: ...

    def settings_for(self, workload: Workload) -> dict[str, dict]:
        """The non-default settings a run of `workload` uses: the adapter's, and what the workload's
        worker pool (processes, slots) sets in the workers."""
        return {**self.settings, **(self.pool_settings(workload.workers) if workload.workers else {})}

    def pool_settings(self, pool: WorkerPool) -> dict[str, dict]:
        return {}

    def workers(self, deployment: Deployment) -> list[ServiceSpec]:
        """Worker processes to run as stack services (sampled and stopped like the servers)."""
        return []

    @abstractmethod
    def deploy(self, deployment: Deployment) -> None:
        """Register the workload's flow/workflow; return once workers can take tasks.
        deployment.workload is a chain or a fan-out, never idle: for an idle run the driver deploys
        a one-task no-op chain, so the stack idles with its workers registered as under load."""

    @abstractmethod
    def submit(self, request: WorkflowRequest) -> Any: ...

    @abstractmethod
    def wait(self, handle: Any, timeout_s: float) -> str:
        """Block until the workflow run is final; return its status. Raise TimeoutError past timeout_s."""

    @abstractmethod
    def records(self, handle: Any, request: WorkflowRequest) -> EngineWorkflow: ...

    def http_target(self, deployment: Deployment) -> HttpTarget:
        """The HTTP call that starts one run of the deployed workload, for the open-loop generator
        (Locust runs in processes of its own and speaks HTTP only)."""
        raise BenchError(f"{self.name} has no HTTP submission path")

    def lookup(self, workflow_id: str) -> Any | None:
        """The handle of a run the generator started, for records(); None where finding it is not cheap."""
        return None

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


class EventLoop:
    """The asyncio loop adapters whose SDK is async run on, driven from the driver's thread.

    One loop per process, shared by every run in it (`bench suite` runs many in one process): grpc's
    asyncio calls complete on the loop they were made on, and a call left over from an earlier run
    (an SDK's listener) completing after its loop was closed printed "Event loop is closed"
    tracebacks into the next run's terminal. close() ends the run's pending tasks; the loop stays."""

    _shared = None

    def __init__(self):
        self._asyncio = asyncio
        if EventLoop._shared is None or EventLoop._shared.is_closed():
            EventLoop._shared = asyncio.new_event_loop()
        self.loop = EventLoop._shared
        asyncio.set_event_loop(self.loop)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def outcome(self, result, timeout_s: float, failure: type[BaseException], name: str) -> str:
        """Await a workflow's result: "completed", or "failed" if it raises `failure`."""
        try:
            self.run(self._asyncio.wait_for(result, timeout_s))
        except self._asyncio.TimeoutError:
            raise TimeoutError(f"{name} not complete after {timeout_s}s") from None
        except failure:
            return "failed"
        return "completed"

    def close(self) -> None:
        """Cancel what the run left pending (an interrupt can leave a wait behind), so nothing of this
        run's runs on into the next one."""
        if self.loop.is_closed():
            return
        pending = [t for t in self._asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(self._asyncio.wait(pending, timeout=5))


def executable(name: str, env_bin: Path | None = None) -> str | None:
    if env_bin and (env_bin / name).exists():
        return str(env_bin / name)
    return shutil.which(name)
