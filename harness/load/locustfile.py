"""Locust's side of one load step: the master hands out the schedule, workers send their shares.

Started by `harness.load.generator.run_step` (never imported by the driver):
  master:  python -m locust -f harness/load/locustfile.py --master --headless --expect-workers W
           -u W --bench-step STEP_FILE ...
  workers: python -m locust -f harness/load/locustfile.py --worker --master-host HOST --master-port P

1. At test start the master reads the step file (mode 0600: it may hold a token), fixes t0 a little
   in the future, numbers the connected workers 0..W-1 and sends each its part of the plan over
   Locust's message channel (the token never appears on a command line or in a log).
2. Each worker runs one user, which sends the submissions i ≡ w (mod W) at t0 + i/rate
   (`pacer.ShareRun`) and sends its records back to the master when done.
3. The master writes each worker's records to `records-w<w>.npz` in the step's folder (remote
   workers' records arrive the same way) and quits once all have reported, which ends the workers.
A worker that fails reports its error instead; the master writes `worker-errors.json` and exits 3.
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import time
import traceback
from pathlib import Path

import gevent
from gevent.event import Event
from locust import User, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.load.pacer import ShareConfig, ShareRun
from harness.load.records import write_share
from harness.load.schedule import HttpTarget, Step

log = logging.getLogger("bench.load")
SCHEDULE_TIMEOUT_S = 120
FAILED_EXIT = 3

_worker = {"plan": None, "ready": Event(), "claimed": False}
_master = {"plan": None, "reports": {}, "errors": {}}


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--bench-step", default="", include_in_web_ui=False, help="harness step file (master only)")
    # Names the step's folder on every process's command line, so a test can find leftovers.
    parser.add_argument("--bench-out", default="", include_in_web_ui=False, help="the step's folder")


@events.init.add_listener
def _register(environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("bench_schedule", _on_schedule)
    elif isinstance(runner, MasterRunner):
        runner.register_message("bench_records", _on_records)


@events.test_start.add_listener
def _hand_out_schedule(environment, **_kw) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    plan = json.loads(Path(environment.parsed_options.bench_step).read_text())
    _master["plan"] = plan
    clients = sorted(runner.clients.keys())
    if len(clients) != plan["workers"]:
        return _fail(environment, f"{len(clients)} workers connected, the step needs {plan['workers']}")
    t0_ns = time.time_ns() + int(plan["start_delay_s"] * 1e9)
    for w, client_id in enumerate(clients):
        runner.send_message(
            "bench_schedule",
            {**plan["share"], "worker": w, "workers": len(clients), "t0_ns": t0_ns},
            client_id=client_id,
        )
    (Path(plan["out_dir"]) / "t0_ns").write_text(str(t0_ns))


def _on_schedule(environment, msg, **_kw) -> None:
    _worker["plan"] = msg.data
    _worker["ready"].set()


def _on_records(environment, msg, **_kw) -> None:
    plan, data = _master["plan"], msg.data
    if "error" in data:
        _master["errors"][str(data["worker"])] = data["error"]
        return _fail(environment, f"worker {data['worker']}: {data['error']}")
    write_share(Path(plan["out_dir"]) / f"records-w{data['worker']}.npz", data)
    _master["reports"][data["worker"]] = {k: data[k] for k in ("senders", "cpu_s", "clock", "scheduling", "cpu_idle")}
    if len(_master["reports"]) == plan["workers"]:
        (Path(plan["out_dir"]) / "workers.json").write_text(json.dumps(_master["reports"]))
        gevent.spawn(environment.runner.quit)


def _fail(environment, reason: str) -> None:
    log.error("load step failed: %s", reason)
    plan = _master["plan"] or {}
    if plan.get("out_dir"):
        (Path(plan["out_dir"]) / "worker-errors.json").write_text(json.dumps({"error": reason}))
    environment.process_exit_code = FAILED_EXIT
    gevent.spawn(environment.runner.quit)


class StepUser(User):
    """One per worker process: sends the worker's whole share, then waits for the master's quit."""

    @task
    def send_share(self) -> None:
        if _worker["claimed"]:
            Event().wait()  # a second user on this worker has nothing to do
        _worker["claimed"] = True
        runner = self.environment.runner
        try:
            if not _worker["ready"].wait(timeout=SCHEDULE_TIMEOUT_S):
                raise RuntimeError(f"no schedule from the master within {SCHEDULE_TIMEOUT_S} s")
            share = _share_config(_worker["plan"])
            run, cpu0 = ShareRun(share, yield_to_hub=_hub_turn), time.process_time()
            _profiled(run.run, share.worker)
            runner.send_message("bench_records", run.payload(time.process_time() - cpu0))
        except Exception as exc:  # noqa: BLE001 - reported to the master, which ends the step
            log.error("load worker failed:\n%s", traceback.format_exc())
            runner.send_message(
                "bench_records",
                {"worker": (_worker["plan"] or {}).get("worker", -1), "error": f"{type(exc).__name__}: {exc}"},
            )
        Event().wait()


def _hub_turn() -> None:
    """gevent's hub runs what is due (Locust's heartbeat, signals) while the send loop waits."""
    gevent.sleep(0)


def _profiled(fn, worker: int) -> None:
    """BENCH_LOAD_PROFILE=DIR: where a worker's time goes, as DIR/load-worker-<w>.pstats (cProfile
    slows the worker several times over: for finding the cost, never for the figures)."""
    target = os.environ.get("BENCH_LOAD_PROFILE")
    if not target:
        return fn()
    profile = cProfile.Profile()
    try:
        return profile.runcall(fn)
    finally:
        profile.dump_stats(str(Path(target) / f"load-worker-{worker}.pstats"))


def _share_config(plan: dict) -> ShareConfig:
    step = Step.model_validate(plan["step"])
    return ShareConfig(
        target=HttpTarget.model_validate(plan["target"]),
        id_prefix=plan["id_prefix"],
        rate_per_s=step.rate_per_s,
        total=plan["total"],
        worker=plan["worker"],
        workers=plan["workers"],
        t0_ns=plan["t0_ns"],
        max_in_flight=step.max_in_flight,
        drain_s=step.drain_s,
    )
