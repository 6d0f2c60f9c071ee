"""Per-container CPU and memory from the Docker Engine's stats stream (about one sample a second).

Rows have the native sampler's schema (t_ns, phase, service, role, cpu_pct, rss_bytes, pss_bytes,
procs) plus `source`, so compose and native runs of a platform sit side by side in one table.
CPU % is the Docker CLI's formula (100 = one core). Memory is the cgroup's usage minus its
inactive file cache, again as `docker stats` shows it; it is not RSS, hence `source`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

SOURCE = "docker-stats"


def cpu_percent(stats: dict) -> float | None:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None  # the first sample of a stream has no previous reading
    cores = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return 100.0 * cpu_delta / system_delta * cores


def memory_bytes(stats: dict) -> int | None:
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None
    detail = mem.get("stats") or {}
    # cgroup v2 reports inactive_file, v1 total_inactive_file; both are reclaimable page cache
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return max(0, int(usage) - int(cache))


def stats_row(stats: dict, service: str, role: str, phase: str, t_ns: int | None = None) -> dict | None:
    mem = memory_bytes(stats)
    if mem is None:
        return None  # a container that has stopped reports empty stats
    return {
        "t_ns": t_ns or time.time_ns(),
        "phase": phase,
        "service": service,
        "role": role,
        "cpu_pct": cpu_percent(stats),
        "rss_bytes": mem,
        "pss_bytes": None,
        "procs": (stats.get("pids_stats") or {}).get("current"),
        "source": SOURCE,
    }


class ContainerSampler:
    """One thread per container reading its stats stream; rows appended as readings arrive."""

    def __init__(self, containers: Callable[[], dict[str, Any]], roles: dict[str, str]):
        self._containers, self._roles = containers, roles
        self.phase = "setup"
        self.rows: list[dict] = []
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def start(self, every_s: float = 1.0) -> None:
        """Look for new containers (replicas, late starters) every `every_s` until stopped."""

        def discover():
            while not self._stop.is_set():
                try:
                    self.watch_new()
                except Exception:
                    pass  # the engine being briefly busy must not end sampling
                self._stop.wait(every_s)

        threading.Thread(target=discover, name="stats-discovery", daemon=True).start()

    def watch_new(self) -> None:
        """Start streams for containers that have appeared since the last call."""
        for name, container in self._containers().items():
            if name in self._threads:
                continue
            thread = threading.Thread(target=self._follow, args=(name, container), daemon=True, name=f"stats-{name}")
            self._threads[name] = thread
            thread.start()

    def _follow(self, name: str, container) -> None:
        # replicas are named <service>-<n>; they play their service's role
        role = self._roles.get(name) or self._roles.get(name.rsplit("-", 1)[0], "server")
        try:
            for stats in container.stats(stream=True, decode=True):
                if self._stop.is_set():
                    return
                row = stats_row(stats, name, role, self.phase)
                if row is not None:
                    with self._lock:
                        self.rows.append(row)
        except Exception:
            return  # the container went away (down -v); its stream ends with it

    def take_rows(self) -> list[dict]:
        with self._lock:
            return list(self.rows)

    def stop(self) -> None:
        self._stop.set()
