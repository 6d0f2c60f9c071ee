"""Mechanics every adapter shares: engine timestamps to epoch nanoseconds, polling an engine until
something holds, a Python worker process as a stack service, and the task body as one script for
engines that run code in their own containers.

Written once so that the adapters cannot disagree: the timestamp converters once did (two used
floats and lost up to a microsecond), and the idle shortcut once had to be fixed twice.
"""

from __future__ import annotations

import inspect
import re
from datetime import datetime, timezone
from typing import Callable, TypeVar

import tenacity

from harness.model.paths import REPO_ROOT
from harness.platforms.base import STAMPS_MOUNT, Deployment
from harness.stack.service import ReadyCheck, ServiceSpec
from harness.workers import taskbody
from harness.workers.taskbody import STAMPS_DIR_ENV, WORKER_NAME_ENV

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"[.,](\d+)")
# Go's zero time.Time (0001-01-01T00:00:00Z): what Go APIs (Hatchet's) send for a time not recorded yet.
_GO_ZERO_YEAR = 1


def epoch_ns(value: datetime | str | None) -> int | None:
    """An engine's timestamp as integer epoch nanoseconds, exactly (no float on the way).

    Accepts a datetime or an RFC 3339 / ISO 8601 string; a string's fraction keeps up to nine
    digits (datetime keeps six). A naive datetime is taken as UTC, as the engines mean it (Python's
    own .timestamp() would read it as the machine's local time). None, an empty string and Go's
    zero time become None: the engine has no such record (yet).
    """
    if value is None or value == "":
        return None
    extra_ns = 0
    if isinstance(value, str):
        value, extra_ns = _parse_iso(value)
    if value.year == _GO_ZERO_YEAR:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH  # timedelta arithmetic is exact integer days, seconds, microseconds
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000 + extra_ns


def _parse_iso(text: str) -> tuple[datetime, int]:
    """(the datetime to the microsecond, the nanoseconds past that microsecond)."""
    match = _FRACTION.search(text)
    if match is None:
        return datetime.fromisoformat(text), 0
    digits = match.group(1)[:9].ljust(9, "0")
    whole = datetime.fromisoformat(text[: match.start()] + text[match.end() :])
    return whole.replace(microsecond=int(digits[:6])), int(digits[6:])


def poll_until(
    what: str,
    fetch: Callable[[], T],
    timeout_s: float,
    interval_s: float,
    *,
    done: Callable[[T], bool] = bool,
    error: type[Exception] | None = TimeoutError,
) -> T:
    """Call `fetch` every `interval_s` until `done(value)`; return that value.

    Past `timeout_s`: raise `error(f"{what} after {timeout_s}s")` (one line; `what` says what did
    not happen, e.g. "flow run 42 not final"), or, with error=None, return the last value fetched
    (engine records that are still settling are better read late than not at all).
    `fetch` is always called at least once, and once more after the deadline has passed, so a
    short timeout never fails without looking. An exception from `fetch` (or one a signal raises
    while it waits: Ctrl-C, the watchdog's ServiceDied) ends the poll at once, never retried.
    """

    def give_up(state: tenacity.RetryCallState) -> T:
        if error is None:
            return state.outcome.result()
        raise error(f"{what} after {timeout_s:g}s")

    return tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout_s),
        wait=tenacity.wait_fixed(interval_s),
        retry=tenacity.retry_if_not_result(done),
        retry_error_callback=give_up,
    )(fetch)


def python_worker(
    deployment: Deployment, module: str, env: dict[str, str], ready_timeout_s: float | None = None
) -> ServiceSpec:
    """The harness's worker `harness.workers.<module>` run by the platform's own Python, as the
    stack service "worker". It imports harness.workers.taskbody from this checkout (PYTHONPATH) and stamps
    into the run's folder. With `ready_timeout_s`, the worker signals readiness by creating the
    file named in BENCH_READY_FILE, and the stack waits that long for it."""
    env = {**env, STAMPS_DIR_ENV: str(deployment.stamps_dir), "PYTHONPATH": str(REPO_ROOT), WORKER_NAME_ENV: "worker"}
    ready = None
    if ready_timeout_s is not None:
        ready_file = deployment.run_dir / f"{module}.ready"
        env["BENCH_READY_FILE"] = str(ready_file)
        ready = ReadyCheck(file=str(ready_file), timeout_s=ready_timeout_s)
    return ServiceSpec(
        name="worker",
        role="worker",
        cwd=REPO_ROOT,
        env=env,
        ready=ready,
        command=[str(deployment.env_bin / "python"), "-m", f"harness.workers.{module}"],
    )


def task_body_script(entry: str, *, prelude: str = "", stamps_dir: str = STAMPS_MOUNT) -> str:
    """The harness's task body (harness/workers/taskbody.py, standard library only) as one script, for
    engines that run each task as Python source inside their own containers (Windmill, Kestra).

    `prelude` runs before the body is defined (Kestra's start stamp), `entry` after it; the entry
    stamps through `_bench_sink`, which writes into `stamps_dir` (where the compose file mounts the
    run's stamp folder) tagged with the container's host name, so same-numbered pids of different
    containers sharing the folder stay apart. `from __future__` is dropped because engines prepend
    lines of their own to a script (Kestra's Python plugin does), after which it is a SyntaxError.
    """
    body = inspect.getsource(taskbody).replace("from __future__ import annotations\n", "")
    # os.uname() rather than socket: no import an engine's dependency resolver has to recognise.
    sink = (
        f"\n\n_bench_sink = StampSink({stamps_dir!r}, tag=(os.environ.get('HOSTNAME') or os.uname().nodename) + '-')\n"
    )
    return prelude + body + sink + entry
