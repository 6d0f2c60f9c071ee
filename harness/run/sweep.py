"""A rate sweep inside a run session: steps of constant offered rate, lowest first, each generated
open-loop by Locust in processes of its own (harness/load/generator.py), until the platform
saturates, the generator falls behind, or a step fails.

Per step: the generator's schedule runs (warmup, then the measured part); the harness then waits
for the step's runs to start (the drain), off the measured window reads the stamps and a sample of
the engine's records, and judges the step (harness/analysis/load.py). The next step starts only
after the drain, so every step starts from a platform that has finished the one before it.
"""

from __future__ import annotations

import time

import pandas as pd

from harness.analysis import load as analysis
from harness.analysis.runs import frame
from harness.load import ceiling
from harness.load.generator import run_step
from harness.load.schedule import Step
from harness.model.engine import EngineWorkflow, WorkflowRequest
from harness.model.errors import BenchError
from harness.model.record import LoadResult, LoadStep, Repetition
from harness.platforms.base import Deployment
from harness.run.session import RunSession
from harness.store.machine import machine

DRAIN_POLL_S = 0.25


class Sweep:
    def run(self, session: RunSession, deployment: Deployment) -> None:
        run_sweep(session, deployment)


def run_sweep(session: RunSession, deployment: Deployment) -> LoadResult:
    """Every step of the workload's sweep, recorded into session.record.load as it goes."""
    wl, sw = session.wl, session.wl.sweep
    assert sw is not None  # spec validation: a sweep workload has a sweep block
    target = session.adapter.http_target(deployment)
    pool = wl.workers
    result = LoadResult(
        load_workers=sw.load_workers,
        worker_processes=pool.processes if pool else None,
        worker_slots=pool.slots if pool else None,
        thresholds=sw.thresholds.model_dump(),
        retry=target.retry.describe() if target.retry else None,
    )
    if sw.measure_ceiling:
        session.progress("phase", name="generator ceiling", detail=f"{sw.load_workers} Locust worker(s)")
        result.generator_ceiling_per_s, result.generator_ceiling_note = generator_ceiling(sw.load_workers)
    else:
        result.generator_ceiling_note = "not measured (the workload's measure_ceiling is false)"
    session.record.load = result
    session.recorder.flush()
    plan = [(sw.rates[0], True)] * wl.warmup + [(rate, False) for rate in sw.rates]
    stamps = _StampPool(session)
    raw: dict[str, list[dict]] = {"load_submissions": [], "load_tasks": []}
    for index, (rate, warmup) in enumerate(plan):
        step = _run_step(session, deployment, target, index, rate, warmup, stamps, raw)
        result.steps.append(step)
        analysis.summarize(result)
        session.record.load = result  # re-assigned so the record validates it
        session.recorder.flush()
        if not warmup and step.verdict != "ok":
            break
    return result


def generator_ceiling(workers: int) -> tuple[float | None, str | None]:
    """The generator's own ceiling on this machine, per Locust worker process: the newest one
    measured here with as many workers (`make ceiling`, harness/load/ceiling.py), else measured now."""
    here = machine()
    found = ceiling.latest(workers=workers)
    if found is None or (found.machine.cpu_model, found.machine.logical_cores) != (here.cpu_model, here.logical_cores):
        try:
            found = ceiling.measure_ceiling(workers)
        except BenchError as err:
            return None, f"not measured: {err}"
        ceiling.save(found)
    busy = sum(1 for s in found.steps if s.machine_state.busy)
    note = f"measured {found.measured_at:%Y-%m-%d %H:%M} UTC with {found.workers} Locust worker(s)" + (
        f"; {busy} of its {len(found.steps)} steps ran while the machine was busy" if busy else ""
    )
    return found.per_worker_per_s, note


class _StampPool:
    """Stamps read so far, by workflow id; a step takes its own out (late stamps of an earlier
    step stay behind and are never counted for a later one)."""

    def __init__(self, session: RunSession):
        self.session = session
        self.by_wf: dict[str, list[dict]] = {}

    def read(self) -> None:
        for s in self.session.stamps.read_new():
            self.by_wf.setdefault(s["workflow_id"], []).append(s)

    def started(self, ids: set[str]) -> int:
        return sum(1 for wf in ids if wf in self.by_wf)

    def done(self, ids: set[str], tasks: int) -> bool:
        return all(len({s["index"] for s in self.by_wf.get(wf, ())}) >= tasks for wf in ids)

    def finished(self, ids: set[str], tasks: int) -> set[str]:
        return {wf for wf in ids if len({s["index"] for s in self.by_wf.get(wf, ())}) >= tasks}

    def take(self, ids: set[str]) -> list[dict]:
        return [s for wf in ids for s in self.by_wf.pop(wf, ())]


def _run_step(
    session: RunSession,
    deployment: Deployment,
    target,
    index: int,
    rate: float,
    warmup: bool,
    stamps: _StampPool,
    raw: dict[str, list[dict]],
) -> LoadStep:
    wl, sw = session.wl, session.wl.sweep
    phase = f"warmup-step-{index + 1}" if warmup else f"step-{index + 1 - wl.warmup}"
    session.phase_start(phase)
    session.progress("phase", name=phase, detail=f"{rate:g}/s")
    probe = session.probe()
    spec = Step(rate_per_s=rate, duration_s=sw.step_s - sw.warmup_s, warmup_s=sw.warmup_s)
    res = run_step(
        target,
        spec,
        id_prefix=f"{deployment.names}-{phase}",
        out_dir=session.run_dir / "load" / phase,
        workers=sw.load_workers,
    )
    session.stack.check_alive()
    sub = res.records
    acked = set(sub.loc[analysis.ok_mask(sub), "workflow_id"]) if len(sub) else set()
    drain_end = _drain(session, stamps, acked, wl.tasks, sw.drain_s)
    machine_state = probe.end()
    session.phase_end()
    # Off the measured window: the engine's records of a sample of the step's runs.
    sample = _engine_sample(session, sub, stamps.finished(acked, wl.tasks), sw.engine_sample)
    si = _step_input(session, index, phase, warmup, rate, sub, stamps, drain_end, sample, res, spec.max_in_flight)
    step = analysis.analyze_step(si, sw.thresholds)
    step.generator_setup = res.setup
    _keep_raw(session, raw, phase, sub, si.stamps)
    session.record.repetitions.append(_step_repetition(index, phase, warmup, step, machine_state))
    session.progress("advance", amount=1)
    return step


def _step_input(
    session: RunSession,
    index: int,
    phase: str,
    warmup: bool,
    rate: float,
    sub: pd.DataFrame,
    stamps: _StampPool,
    drain_end: int,
    sample: tuple[dict[str, EngineWorkflow], int, str | None],
    res,
    max_in_flight: int,
) -> analysis.StepInput:
    """What the step analysis judges: the generator's records, the step's own stamps (taken out of
    the pool), the resource samples, the engine's sampled records and the generator's rates."""
    wl, sw = session.wl, session.wl.sweep
    engine, engine_errors, engine_error = sample
    start_ns = int(sub["intended_ns"].min()) if len(sub) else session.record.phases[-1].start_ns
    return analysis.StepInput(
        step=index,
        phase=phase,
        warmup=warmup,
        rate_per_s=rate,
        duration_s=sw.step_s,
        warmup_s=sw.warmup_s,
        start_ns=start_ns,
        submissions=sub,
        stamps=stamps.take(set(sub["workflow_id"]) if len(sub) else set()),
        tasks_per_run=wl.tasks,
        drain_end_ns=drain_end,
        resources=frame(session.resource_rows()),
        engine=engine,
        engine_errors=engine_errors,
        engine_error=engine_error,
        generator_workers=res.workers,
        in_flight_limit=max_in_flight * res.workers,
        offered_per_s=res.offered_per_s,
        sent_per_s=res.sent_per_s,
        acked_per_s=res.acked_per_s,
    )


def _step_repetition(index: int, phase: str, warmup: bool, step: LoadStep, machine_state) -> Repetition:
    """The step as the record's repetition: failed only when the step's verdict is."""
    return Repetition(
        repetition=index,
        phase=phase,
        warmup=warmup,
        status="failed" if step.verdict == "failed" else "ok",
        reasons=step.reasons,
        tasks_expected=step.tasks_expected,
        tasks_completed=step.tasks_completed,
        duplicates=step.duplicates,
        window_s=(step.end_ns - step.steady_start_ns) / 1e9,
        machine_state=machine_state,
    )


def _drain(session: RunSession, stamps: _StampPool, acked: set[str], tasks: int, drain_s: float) -> int:
    """Wait until every acknowledged run of the step has run all its tasks, or drain_s has passed."""
    deadline = time.monotonic() + drain_s
    while True:
        stamps.read()
        if stamps.done(acked, tasks) or time.monotonic() > deadline:
            return time.time_ns()
        session.stack.check_alive()
        time.sleep(DRAIN_POLL_S)


def _engine_sample(
    session: RunSession, sub: pd.DataFrame, finished: set[str], size: int
) -> tuple[dict[str, EngineWorkflow], int, str | None]:
    """The engine's own records of up to `size` measured runs whose tasks all ran (by their stamps),
    spread evenly over the step."""
    wl = session.wl
    measured = [wf for wf in sub.loc[~sub["warmup"], "workflow_id"] if wf in finished] if len(sub) else []
    if not size or not measured:
        return {}, 0, None
    stride = max(1, len(measured) // size)
    out, errors, first = {}, 0, None
    for wf in measured[::stride][:size]:
        req = WorkflowRequest(wf, "chain", wl.tasks, wl.task.op, wl.task.n)
        try:
            handle = session.adapter.lookup(wf)
            if handle is None:
                continue
            record = session.adapter.records(handle, req)
            if record is None:  # the engine has not finished its bookkeeping of this run
                raise LookupError(f"no engine record of {wf} yet")
            out[wf] = record
        except Exception as err:  # an engine that cannot report is counted; the stamps decide correctness
            errors += 1
            first = first or session.redact(
                f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            )
    return out, errors, first


def _keep_raw(
    session: RunSession, rows: dict[str, list[dict]], phase: str, sub: pd.DataFrame, stamps: list[dict]
) -> None:
    """The generator's records and the step's stamps, as load_submissions / load_tasks tables."""
    rows["load_submissions"] += [{**r, "phase": phase} for r in sub.to_dict(orient="records")]
    rows["load_tasks"] += [{**s, "phase": phase} for s in stamps]
    for name, table in rows.items():
        session.recorder.write_table(name, table)
