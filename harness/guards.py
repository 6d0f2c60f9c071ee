"""Signals around a run: SIGTERM as Ctrl-C, cleanup that a second Ctrl-C cannot cut short, and a
watchdog that ends a blocking wait the moment a service dies."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable

from .errors import BenchError

WATCHDOG_PERIOD_S = 0.2
RESIGNAL_EVERY_S = 0.5


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
