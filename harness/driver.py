"""The driver: brings a stack up, runs a workload through an adapter and takes every timing.

Flow of data: stack -> driver -> samples -> stats -> results. All harness-side timestamps are
time.time_ns() on the same host clock the task bodies stamp with.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from . import analysis, backends, install, machine
from .errors import BenchError, RunInterrupted
from .platforms import adapter_class
from .platforms.base import Adapter, Deployment, EngineWorkflow, WorkflowRequest
from .results import Redactor, RunRecorder, new_run_id
from .spec import Workload
from .stack import definition
from .stack.native import NativeStack
from .stamps import StampReader

Progress = Callable[..., None]  # progress(event, **details); the CLI draws it


@dataclass
class RunOptions:
    platform: str
    workload: Workload
    variant: str | None = None
    backend: str = "native"          # auto | native | compose | external
    external_config: Path | None = None
    pinned_ports: dict[str, int] = field(default_factory=dict)
    sample_hz: float = 5.0
    results_root: Path | None = None
    keep_run_dir: bool = False


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM ends a run the way Ctrl-C does: cleanly, keeping what was measured."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(opts: RunOptions, progress: Progress = lambda *a, **k: None) -> Path:
    from .platforms import NOT_NATIVE
    adapter: Adapter = adapter_class(opts.platform)()
    backend = backends.resolve(opts.backend, opts.platform, adapter.stack, NOT_NATIVE.get(opts.platform))
    files = backends.stack_files(adapter.stack, backend)
    if backend == "native":
        stack_def = files.native
        variant = opts.variant or (stack_def.default_variant() if stack_def else "in-process")
        if stack_def and variant not in stack_def.variants:
            raise BenchError(f"{opts.platform} has no variant {variant!r}; known: {', '.join(stack_def.variants)}")
        if not stack_def and variant != "in-process":
            raise BenchError(f"{opts.platform} runs in-process and has no variants")
    else:
        if opts.variant:
            raise BenchError(f"variants belong to native stacks; the {backend} backend takes none")
        variant = backend
    external = None
    if backend == "external":
        from .stack.external import load_config
        external = load_config(opts.external_config, files.endpoint_names(), opts.platform)
    wl = opts.workload
    run_id = new_run_id(wl.name)
    redact = Redactor()
    recorder = RunRecorder(opts.platform, run_id, {
        "backend": backend, "backend_requested": opts.backend, "variant": variant,
        "workload": {"name": wl.name, "hash": wl.digest(), "spec": wl.model_dump()},
        "machine": machine.machine(), "harness": machine.harness_revision(),
        "sampler_hz": opts.sample_hz,
    }, redact, opts.results_root)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{opts.platform}-"))
    run = _Run(opts, adapter, recorder, run_dir, run_id, progress)
    status, error = "failed", None
    try:
        with sigterm_as_interrupt():
            run.execute(files, backend, variant, redact, external)
        status = "complete" if run.all_repetitions_ok() else "failed"
        if status == "failed":
            error = "one or more repetitions failed validation; see repetitions"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C or SIGTERM)"
        raise RunInterrupted(f"partial results kept in {recorder.dir}") from None
    except BenchError as err:
        error = redact(str(err))
        raise BenchError(f"{error} (partial results in {recorder.dir})") from None
    except Exception as err:  # an SDK or HTTP error from an adapter: one line, not a traceback
        if os.environ.get("BENCH_DEBUG"):
            traceback.print_exc()
        lines = str(err).strip().splitlines()
        error = redact(f"{opts.platform}: {type(err).__name__}: {lines[0][:300] if lines else ''}")
        raise BenchError(f"{error} (partial results in {recorder.dir})") from None
    finally:
        # Cleanup must finish even if a second Ctrl-C arrives while it runs.
        with _signals_deferred():
            run.shutdown()
            recorder.finish(status, redact(error) if error else None)
            if not opts.keep_run_dir:
                shutil.rmtree(run_dir, ignore_errors=True)
    if run.stop_error:  # measured fine, but something may be left running: the user must hear of it
        raise BenchError(f"the stack did not stop cleanly: {redact(run.stop_error)} (results in {recorder.dir})")
    return recorder.dir


@contextmanager
def watchdog(stack: NativeStack, period_s: float = 0.2):
    """Ends a blocking wait as soon as any service dies, with the service's exit as the error.

    Adapters block inside their SDK while a workflow runs; a dead worker would otherwise show up
    only as a timeout minutes later. The watchdog thread signals the main thread, whose handler
    raises the error there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    failure: list[BenchError] = []
    stop = threading.Event()

    def handler(signum, frame):
        if failure:
            raise failure[0]

    def watch():
        while not stop.wait(period_s):
            try:
                stack.check_alive()
            except BenchError as err:
                failure.append(err)
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return

    previous = signal.signal(signal.SIGUSR1, handler)
    thread = threading.Thread(target=watch, name="service-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)


@contextmanager
def _signals_deferred():
    try:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def start_stack(stack: NativeStack, rendered: definition.RenderedStack, redact: Redactor,
                progress: Progress = lambda *a, **k: None) -> dict[str, float]:
    """Take the stack's steps in order; returns seconds per step (launch -> ready, or run -> exit)."""
    rendered.write_files()
    seconds = {}
    for spec in rendered.steps():
        progress("phase", name="start", detail=spec.name)
        t = time.monotonic()
        try:
            if spec.oneshot:
                out = stack.run_oneshot(spec)
                if spec.capture:
                    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
                    if not lines:
                        raise BenchError(f"{spec.name} printed nothing to capture as {spec.capture}")
                    rendered.ctx.capture(spec.capture, lines[-1])
            else:
                stack.start(spec)
        finally:
            redact.add(rendered.secrets())
        seconds[spec.name] = time.monotonic() - t
    return seconds


class _Run:
    def __init__(self, opts, adapter, recorder, run_dir, run_id, progress):
        self.opts, self.adapter, self.recorder = opts, adapter, recorder
        self.run_dir, self.run_id, self.progress = run_dir, run_id, progress
        self.stack = NativeStack(run_dir)
        self.stamps_dir = run_dir / "stamps"
        self.stamps_dir.mkdir()
        self.stamps = StampReader(self.stamps_dir)
        self.sampler = None
        self.stop_error: str | None = None
        self.extra_samplers: list = []   # container stats or Prometheus scrapes, beside the process sampler
        self.task_rows: list[dict] = []
        self.workflow_rows: list[dict] = []
        self.repetitions: list[dict] = []
        self.setup: dict = {}
        self.phases: list[dict] = []
        self.t_ready_ns: int | None = None

    # -- phases ----------------------------------------------------------------------------
    def execute(self, files: backends.StackFiles, backend: str, variant: str, redact: Redactor,
                external=None) -> None:
        env_bin, versions, settings = Path(sys.executable).parent, {}, {}
        installed = None
        self.progress("phase", name="install", detail=self.opts.platform)
        t0 = time.monotonic()
        if backend == "native" and files.native:
            installed = install.platform(files.native)
        elif backend != "native" and files.worker_python():
            # only the host-side SDK workers' environment; the servers come as images or are someone else's
            installed = install.python_env(self.opts.platform, files.worker_python())
        if installed is not None:
            self.setup.update(install_s=time.monotonic() - t0, install_cached=installed.cached,
                              first_install_s=installed.first_install_s, footprint_bytes=installed.footprint_bytes)
            env_bin, versions = installed.bin_dir, dict(installed.versions)
        else:
            self.setup.update(footprint_bytes=0)
        ctx = definition.RenderContext(self.run_id, self.run_dir, env_bin, self.opts.pinned_ports,
                                       go_bin=installed.go_bin if installed else None)
        rendered = None
        if backend == "native" and files.native:
            rendered = definition.render(files.native, variant, ctx)
            settings = rendered.settings
            if any(s.builtin == "postgres" for s in files.native.services
                   if s.variants is None or variant in s.variants):
                from .stack.postgres import install_dir
                self.setup["footprint_bytes"] += install.tree_size(install_dir())
        elif backend == "compose":
            settings = {k: s.model_dump() for k, s in files.compose.bench.settings.items()}
        settings = {**settings, **self.adapter.settings}
        deployment_kind = "in-process"
        if backend == "compose":
            deployment_kind = files.compose.bench.deployment
        elif backend == "external":
            deployment_kind = "external"
        elif files.native:
            deployment_kind = files.native.deployment
        self.recorder.update(settings=settings, versions=versions, setup=self.setup, deployment=deployment_kind,
                             stack_description=(files.compose.bench.description if backend == "compose"
                                                else files.native.description if files.native else ""))

        if backend == "compose":
            self._compose_up(files.compose, ctx, redact, versions)
            endpoints = {k: ctx.render(v) for k, v in files.compose.bench.endpoints.items()}
        elif backend == "external":
            from .stack.external import ExternalStack, MetricsSampler
            self.stack = ExternalStack(self.run_dir, external)
            redact.add([v for k, v in external.endpoints.items()
                        if any(word in k for word in ("token", "password", "secret", "key"))])
            self._start_samplers(MetricsSampler(external.metrics) if external.metrics else None)
            self.setup.update(start_to_ready_s=None, external_metrics=sorted(external.metrics))
            endpoints = dict(external.endpoints)
            self._phase_start("start")  # only the harness's workers start here
            self.t_ready_ns = time.time_ns()
        else:
            self._start_samplers()
            self._phase_start("start")
            t_launch = time.monotonic()
            ready_s = start_stack(self.stack, rendered, redact, self.progress) if rendered else {}
            endpoints = rendered.endpoints() if rendered else {}
            self.t_ready_ns = time.time_ns()
            self.setup.update(start_to_ready_s=time.monotonic() - t_launch if rendered else None,
                              services_ready_s=ready_s)
        self.recorder.update(setup=self.setup, endpoints=endpoints)

        with watchdog(self.stack):
            self._deploy_and_measure(Deployment(self.run_id, self.opts.workload, self.run_dir, self.stamps_dir,
                                                env_bin, endpoints), versions)

    def _start_samplers(self, extra=None) -> None:
        from .sampler import ResourceSampler
        me = psutil.Process()
        self.sampler = ResourceSampler(lambda: {**self.stack.processes(), "harness": me},
                                       lambda: {**self.stack.roles(), "harness": "harness"}, hz=self.opts.sample_hz)
        self.sampler.start()
        if extra is not None:
            extra.start()
            self.extra_samplers.append(extra)

    def _compose_up(self, cdef, ctx, redact: Redactor, versions: dict) -> None:
        from .stack.compose import ComposeStack, render_env, write_env_file
        from .stack.container_stats import ContainerSampler
        env = render_env(cdef, ctx, self.stamps_dir)
        # mounted into containers whose user is not ours (Kestra's image runs as `kestra`): anyone may add files
        self.stamps_dir.chmod(0o1777)
        redact.add(ctx.secrets())
        env_file = write_env_file(self.run_dir / "compose.env", env)  # in the temp run dir, never in results
        self.stack = ComposeStack(self.run_dir, cdef, project=f"bench-{self.run_id}".lower(), env_file=env_file)
        self._phase_start("pull")
        t = time.monotonic()
        sizes = self.stack.pull()
        self.setup.update(pull_s=time.monotonic() - t, images=sizes,
                          footprint_bytes=self.setup.get("footprint_bytes", 0) + sum(sizes.values()))
        versions.update({f"image {name}": name.rsplit(":", 1)[-1] for name in sizes})
        self._phase_end()
        self._start_samplers(ContainerSampler(self.stack.containers, self.stack.container_roles()))
        self._phase_start("start")
        t_launch = time.monotonic()
        ready_s = self.stack.up(self.progress)
        ready_s.update(self.stack.run_setup(ctx))
        redact.add(ctx.secrets())
        self.t_ready_ns = time.time_ns()
        self.setup.update(start_to_ready_s=time.monotonic() - t_launch, services_ready_s=ready_s)
        self.recorder.update(setup=self.setup, versions=versions)

    def _deploy_and_measure(self, deployment: Deployment, versions: dict) -> None:
        wl = self.opts.workload
        self.progress("phase", name="deploy", detail="workers")
        self.adapter.connect(deployment)
        t = time.monotonic()
        for worker in self.adapter.workers(deployment):
            self.stack.start(worker)
        self.adapter.deploy(deployment)
        self.setup.update(deploy_s=time.monotonic() - t, long_running_services=len(self.stack.services))
        versions.update(self.adapter.versions())
        self.recorder.update(setup=self.setup, versions=versions)
        self._phase_end()

        if wl.shape == "idle":
            self._idle(wl.duration_s)
        else:
            total = wl.warmup + wl.repetitions
            for rep in range(total):
                self._repetition(rep, warmup=rep < wl.warmup, deployment=deployment)

    def _idle(self, duration_s: float) -> None:
        self._phase_start("idle")
        end = time.monotonic() + duration_s
        self.progress("phase", name="idle", total=duration_s)
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            self.stack.check_alive()
            self.progress("advance", amount=min(1.0, left))
        self._phase_end()
        self.repetitions.append({"repetition": 0, "phase": "idle", "warmup": False, "status": "ok"})
        self.recorder.update(repetitions=self.repetitions)

    def _repetition(self, rep: int, warmup: bool, deployment: Deployment) -> None:
        wl = self.opts.workload
        phase = f"warmup-{rep + 1}" if warmup else f"rep-{rep + 1 - wl.warmup}"
        self._phase_start(phase)
        self.progress("phase", name=phase, total=wl.runs)
        handles = []
        failure = None
        for i in range(wl.runs):
            req = WorkflowRequest(f"{deployment.names}-{phase}-{i}", wl.shape, wl.tasks, wl.task.op, wl.task.n)
            submit_ns = time.time_ns()
            handle = self.adapter.submit(req)
            try:
                status = self.adapter.wait(handle, wl.timeout_s)
            except TimeoutError:
                status, failure = "timeout", f"{req.workflow_id} not complete within {wl.timeout_s:.0f}s"
            done_ns = time.time_ns()
            handles.append((req, handle, submit_ns, done_ns, status))
            self.stack.check_alive()
            self.progress("advance", amount=1)
            if failure:
                break
        self._phase_end()

        # Outside the measured window: engine records and stamps.
        stamps = self.stamps.read_new()
        engine = {}
        for req, handle, *_ in handles:
            try:
                engine[req.workflow_id] = self.adapter.records(handle, req)
            except Exception as err:  # an engine that cannot report is a failed repetition, not a crash
                engine[req.workflow_id] = EngineWorkflow(status=f"records unavailable: {str(err)[:200]}")
        rows, wf_rows, verdict = analysis.assemble(rep, phase, warmup, wl, handles, stamps, engine)
        if failure:
            verdict = {**verdict, "status": "failed", "reasons": [failure, *verdict["reasons"]]}
        self.task_rows += rows
        self.workflow_rows += wf_rows
        self.repetitions.append({"repetition": rep, "phase": phase, "warmup": warmup, **verdict})
        if "ready_to_first_task_s" not in self.setup and rows:
            first_end = min(r["body_end_ns"] for r in rows)
            self.setup["ready_to_first_task_s"] = (first_end - self.t_ready_ns) / 1e9
        self.recorder.write_table("tasks", self.task_rows)
        self.recorder.write_table("workflows", self.workflow_rows)
        self.recorder.update(repetitions=self.repetitions, setup=self.setup)

    def _samplers(self) -> list:
        return [x for x in (self.sampler, *self.extra_samplers) if x is not None]

    def _resource_rows(self) -> list[dict]:
        return [row for x in self._samplers() for row in x.take_rows()]

    def _phase_start(self, name: str) -> None:
        for sampler in self._samplers():
            sampler.set_phase(name)
        self.phases.append({"name": name, "start_ns": time.time_ns(), "end_ns": None})
        self.recorder.update(phases=self.phases)

    def _phase_end(self) -> None:
        self.phases[-1]["end_ns"] = time.time_ns()
        for sampler in self._samplers():
            sampler.set_phase("between")
        if self._samplers():
            self.recorder.write_table("resources", self._resource_rows())
        self.recorder.update(phases=self.phases)

    def all_repetitions_ok(self) -> bool:
        measured = [r for r in self.repetitions if not r["warmup"]]
        return bool(measured) and all(r["status"] == "ok" for r in self.repetitions)

    def shutdown(self) -> None:
        try:
            self.adapter.close()
        except Exception:
            pass
        for sampler in self._samplers():
            sampler.set_phase("stop")
        try:
            self.stack.stop()
        except BenchError as err:  # e.g. `compose down -v` failed: say so, keep the data
            self.stop_error = str(err)
            self.recorder.doc["stop_error"] = self.stop_error
        for sampler in self._samplers():
            sampler.stop()
        if self._samplers():
            self.recorder.write_table("resources", self._resource_rows())
        if self.sampler:
            self.recorder.doc["sampler"] = {"hz": self.sampler.hz, "ticks": self.sampler.ticks,
                                            "late_ticks": self.sampler.late_ticks,
                                            "own_cpu_s": self.sampler.own_cpu_s, "wall_s": self.sampler.wall_s}
        if self.phases and self.phases[-1]["end_ns"] is None:
            self.phases[-1]["end_ns"] = time.time_ns()
        self.recorder.doc.update(phases=self.phases, setup=self.setup, repetitions=self.repetitions)
        try:
            self.recorder.doc["summary"] = analysis.summarize_tables(
                self.recorder.doc, analysis.frame(self.task_rows), analysis.frame(self.workflow_rows),
                analysis.frame(self._resource_rows()))
        except Exception as err:  # a summary bug must not lose the raw data
            self.recorder.doc["summary_error"] = str(err)
        self.recorder.copy_logs(self.stack.log_dir)
