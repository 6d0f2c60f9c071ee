"""Samples CPU, RSS and PSS of each service's whole process tree, on a fixed schedule.

CPU % is computed from each process's cumulative CPU time between two samples (100 = one core);
a process born between samples is charged all of its CPU time. CPU of a process that exits
between two samples is lost for that interval (at 5 Hz: at most 200 ms of it).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import psutil

CHILD_REFRESH_S = 1.0  # re-walking /proc for children is the sampler's largest cost
PSS_REFRESH_S = 5.0    # smaps_rollup makes the kernel walk page tables: PSS every 5 s, RSS every tick


def pss_bytes(pid: int) -> int | None:
    """Proportional set size: shared pages divided among the processes sharing them, so a tree
    of processes sharing memory (PostgreSQL's backends) is not counted many times over, as RSS is.
    Read from smaps_rollup, which psutil does not use (its memory_full_info walks full smaps)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class ResourceSampler(threading.Thread):
    def __init__(self, services: Callable[[], dict[str, psutil.Process]], roles: Callable[[], dict[str, str]],
                 hz: float = 5.0):
        super().__init__(name="resource-sampler", daemon=True)
        self._services, self._roles = services, roles
        self.period = 1.0 / hz
        self.hz = hz
        self.rows: list[dict] = []
        self.phase = "setup"
        self._stop_evt = threading.Event()
        self._trees: dict[str, list[psutil.Process]] = {}
        self._trees_at = 0.0
        self._tree_names: set[str] = set()
        self._last_cpu: dict[int, float] = {}
        self._pss: dict[int, int] = {}
        self._pss_at = 0.0
        self._last_t: float | None = None
        self.own_cpu_s = 0.0
        self.wall_s = 0.0
        self.ticks = 0
        self.late_ticks = 0

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def run(self) -> None:
        started = time.monotonic()
        next_tick = started
        cpu0 = time.thread_time()
        while not self._stop_evt.is_set():
            self.sample_once()
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay < 0:
                self.late_ticks += 1
                next_tick = time.monotonic()
                delay = 0
            self._stop_evt.wait(delay)
        self.own_cpu_s = time.thread_time() - cpu0
        self.wall_s = time.monotonic() - started

    def stop(self) -> None:
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout=5)

    def _refresh_trees(self, now: float) -> None:
        # Names first: a service registered during the walk then differs on the next tick and is
        # walked then, instead of being listed as walked and skipped for a whole CHILD_REFRESH_S.
        names = set(self._roles())
        trees = {}
        for name, root in self._services().items():
            try:
                trees[name] = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        # A service started by another (every service is a child of the harness) is charged to
        # itself only: drop nested services' processes from the enclosing tree.
        roots = {procs[0].pid: name for name, procs in trees.items()}
        for name, procs in trees.items():
            pids = {p.pid for p in procs[1:]}
            nested = set()
            for pid, other in roots.items():
                if other != name and pid in pids:
                    nested |= {p.pid for p in trees[other]}
            if nested:
                trees[name] = [p for p in procs if p.pid not in nested]
        self._trees, self._trees_at, self._tree_names = trees, now, names

    def sample_once(self) -> None:
        now = time.monotonic()
        t_ns = time.time_ns()
        roles = self._roles()
        # a service started since the last walk (a worker) is picked up on the next tick, not a second later
        if now - self._trees_at >= CHILD_REFRESH_S or not self._trees or set(roles) != self._tree_names:
            self._refresh_trees(now)
        interval = None if self._last_t is None else now - self._last_t
        refresh_pss = now - self._pss_at >= PSS_REFRESH_S
        if refresh_pss:
            self._pss_at = now
        seen: dict[int, float] = {}
        for name, procs in self._trees.items():
            cpu_s = 0.0
            rss = pss = 0
            alive = 0
            for proc in procs:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        total = times.user + times.system
                        mem = proc.memory_info().rss
                        born = proc.create_time()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                alive += 1
                rss += mem
                if refresh_pss or proc.pid not in self._pss:
                    self._pss[proc.pid] = pss_bytes(proc.pid) or 0
                pss += self._pss[proc.pid]
                seen[proc.pid] = total
                prev = self._last_cpu.get(proc.pid)
                if prev is not None:
                    cpu_s += total - prev
                elif interval is not None and born >= time.time() - interval:
                    cpu_s += total
            if alive:
                self.rows.append({"t_ns": t_ns, "phase": self.phase, "service": name, "role": roles.get(name, ""),
                                  "cpu_pct": None if interval is None else 100.0 * cpu_s / interval,
                                  "rss_bytes": rss, "pss_bytes": pss, "procs": alive, "source": "psutil"})
        self._last_cpu = seen
        self._pss = {pid: v for pid, v in self._pss.items() if pid in seen}
        self._last_t = now
        self.ticks += 1

    def take_rows(self) -> list[dict]:
        """Rows sampled so far (a copy: the thread keeps appending)."""
        return list(self.rows)
