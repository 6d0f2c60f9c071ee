"""Signals around a run: Ctrl-C and SIGTERM that cannot be lost, cleanup that a second Ctrl-C cannot
cut short, and a watchdog that ends a blocking wait the moment a service dies."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable

from harness.model.errors import BenchError

WATCHDOG_PERIOD_S = 0.2
RESIGNAL_EVERY_S = 0.5
# An interrupt that has not ended the block this long after it was requested was swallowed (an SDK
# call that catches BaseException): delivered again. Long enough for a KeyboardInterrupt that
# did land to unwind through the block's own cleanup without being raised a second time inside it.
REDELIVER_AFTER_S = 1.0

_interrupt_requested = threading.Event()


@contextmanager
def interrupts():
    """Ctrl-C and SIGTERM end a run cleanly, keeping what was measured, and stay requested.

    The handler raises KeyboardInterrupt wherever the main thread happens to be; code that catches
    BaseException there loses it and the run goes on for minutes (seen once in 145 runs interrupted
    under load, the harness back in an SDK's wait; the exact catch was not found). So the request
    is also kept: the session checks it at every step (`raise_if_interrupted`) and the watchdog
    delivers it again until the run has left its block."""

    def handler(signum, frame):
        _interrupt_requested.set()
        raise KeyboardInterrupt

    _interrupt_requested.clear()
    # Started with SIGINT ignored (`bench run ... &` in a script: background jobs ignore Ctrl-C), the
    # harness keeps ignoring it, before and during the run alike; SIGTERM always ends a run.
    signals = [signal.SIGTERM] if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else [signal.SIGINT, signal.SIGTERM]
    try:
        previous = {sig: signal.signal(sig, handler) for sig in signals}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _interrupt_requested.clear()


def raise_if_interrupted() -> None:
    """A safe point: an interrupt requested earlier (and swallowed where it landed) ends the run here."""
    if _interrupt_requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def signals_deferred():
    """Cleanup must finish even if a second Ctrl-C or SIGTERM arrives while it runs."""
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


@contextmanager
def watchdog(check_alive: Callable[[], None], period_s: float = WATCHDOG_PERIOD_S):
    """Ends a blocking wait as soon as any service dies (with the service's exit as the error) or an
    interrupt was requested and swallowed (with KeyboardInterrupt).

    Adapters block inside their SDK while a workflow runs; a dead worker would otherwise show up
    only as a timeout minutes later. The watchdog thread signals the main thread, whose handler
    raises the error there, again every RESIGNAL_EVERY_S until the main thread has left the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    failure: list[BaseException | type[BaseException]] = []
    stop = threading.Event()

    def handler(signum, frame):
        if failure and not stop.is_set():  # never raise once the block is being left
            raise failure[0]

    def watch():
        while not stop.wait(period_s):
            if _interrupt_requested.is_set():
                if not stop.wait(REDELIVER_AFTER_S):
                    failure.append(KeyboardInterrupt)
                break
            try:
                check_alive()
            except BenchError as err:
                failure.append(err)
                break
        # Raised inside an asyncio callback, the error is logged and swallowed by the event loop;
        # signalled again until the main thread has left the block, one lands where it propagates.
        while failure and not stop.is_set():
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
            stop.wait(RESIGNAL_EVERY_S)

    previous = signal.signal(signal.SIGUSR1, handler)
    thread = threading.Thread(target=watch, name="service-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)


class DeadlineExceeded(BenchError):
    """A call into a platform did not return in time (a server that accepts and never answers)."""


@contextmanager
def deadline(seconds: float, what: str):
    """Raise DeadlineExceeded in the main thread if the block runs longer than `seconds`.

    SDK and HTTP calls block in socket reads that may never return; SIGALRM interrupts the read and
    the handler's exception ends the call. Off the main thread (no signals there) it only yields."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def handler(signum, frame):
        raise DeadlineExceeded(f"{what} did not return within {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
