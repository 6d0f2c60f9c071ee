"""Samples CPU, RSS and PSS of each service's whole process tree, on a fixed schedule.

CPU % is computed from each process's cumulative CPU time between two samples (100 = one core);
a process born between samples is charged all of its CPU time. CPU of a process that exits
between two samples is lost for that interval (at 5 Hz: at most 200 ms of it).

Cost: everything comes from one read of /proc/<pid>/stat per process per tick (ppid, CPU time,
start time and RSS are all in it), read directly rather than through psutil, whose per-call
overhead and `children()` (a scan of every process on the machine per call, so one per service)
cost 6.5% of a core for a 31-process stack at 5 Hz. The process trees are rebuilt every
CHILD_REFRESH_S from one listing of /proc and a ppid map in which only processes new since the last
listing (and the trees' own, read for the sample anyway) are read: a process joins a tree by being
forked into it, so a new pid, and pids are allocated in sequence, so one is not reused within a
second. (A process reparented into a tree by a subreaper inside it is not followed.)
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, NamedTuple

import psutil

CHILD_REFRESH_S = 1.0  # re-scanning /proc for children is the sampler's largest cost
PSS_REFRESH_S = 5.0  # smaps_rollup makes the kernel walk page tables: PSS every 5 s, RSS every tick
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Stat(NamedTuple):
    ppid: int
    cpu_s: float  # user + system
    start_s: float  # seconds after boot (CLOCK_BOOTTIME)
    rss_bytes: int


def parse_stat(raw: bytes) -> Stat | None:
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    f = raw[raw.rfind(b")") + 2 :].split()
    if len(f) < 22:
        return None
    # f[0] is field 3 (state): ppid 4, utime 14, stime 15, starttime 22, rss 24 (pages)
    return Stat(int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK, int(f[19]) / CLK_TCK, int(f[21]) * PAGE)


def read_stat(pid: int) -> Stat | None:
    """The fields of /proc/<pid>/stat the sampler needs; None once the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            return parse_stat(os.read(fd, 4096))
        finally:
            os.close(fd)
    except OSError:
        return None


class StatFiles:
    """/proc/<pid>/stat of the sampled processes kept open and re-read with pread: the path lookup
    of open() is most of a read's cost. An open file stays bound to its process, so once that
    process is gone the read fails (ESRCH) even if its pid has been reused."""

    def __init__(self):
        self._fds: dict[int, int] = {}

    def read(self, pid: int) -> Stat | None:
        fd = self._fds.get(pid)
        try:
            if fd is None:
                fd = self._fds[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
            return parse_stat(os.pread(fd, 4096, 0))
        except OSError:  # gone: forget its file, so a process reusing the pid is opened afresh
            if pid in self._fds:
                os.close(self._fds.pop(pid))
            return None

    def keep_only(self, pids: set[int]) -> None:
        for pid in [p for p in self._fds if p not in pids]:
            os.close(self._fds.pop(pid))

    def close(self) -> None:
        self.keep_only(set())

    __del__ = close


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


def build_trees(roots: dict[str, int], ppids: dict[int, int]) -> dict[str, list[int]]:
    """Each service's pids (root first) from one ppid map. A service started by another (every
    service is a child of the harness) is charged to itself only: its subtree is not descended into
    from the enclosing service."""
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    root_pids = {pid for pid in roots.values() if pid in ppids}
    trees = {}
    for name, root in roots.items():
        if root not in ppids:
            continue
        pids, todo = [root], list(children.get(root, ()))
        while todo:
            pid = todo.pop()
            if pid in root_pids:
                continue
            pids.append(pid)
            todo.extend(children.get(pid, ()))
        trees[name] = pids
    return trees


class ResourceSampler(threading.Thread):
    def __init__(
        self, services: Callable[[], dict[str, psutil.Process]], roles: Callable[[], dict[str, str]], hz: float = 5.0
    ):
        super().__init__(name="resource-sampler", daemon=True)
        self._services, self._roles = services, roles
        self.period = 1.0 / hz
        self.hz = hz
        self.rows: list[dict] = []
        self.phase = "setup"
        self._stop_evt = threading.Event()
        self._trees: dict[str, list[int]] = {}
        self._ppids: dict[int, int] = {}  # every process on the machine at the last listing
        self._files = StatFiles()
        self._trees_at = 0.0
        self._tree_names: set[str] = set()
        self._last_cpu: dict[tuple[int, float], float] = {}  # by (pid, start): a reused pid is a new process
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
        self._files.close()

    def stop(self) -> None:
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout=5)

    def _refresh_trees(self, now: float) -> dict[int, Stat]:
        # Names first: a service registered during the walk then differs on the next tick and is
        # walked then, instead of being listed as walked and skipped for a whole CHILD_REFRESH_S.
        names = set(self._roles())
        roots = {name: proc.pid for name, proc in self._services().items()}
        in_trees = {pid for procs in self._trees.values() for pid in procs}
        fresh, ppids = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            known = self._ppids.get(pid)
            if known is not None and pid not in in_trees:
                ppids[pid] = known
                continue
            # new, or in a tree: its parent may have exited (then it left the tree, as it has left init's)
            st = self._files.read(pid) if pid in in_trees else read_stat(pid)
            if st is not None:
                fresh[pid], ppids[pid] = st, st.ppid
        self._ppids = ppids
        self._trees, self._trees_at, self._tree_names = build_trees(roots, ppids), now, names
        self._files.keep_only({pid for procs in self._trees.values() for pid in procs})
        return fresh

    def _stats(self, now: float, roles: dict[str, str]) -> dict[int, Stat]:
        """This tick's reading of every process in the trees (the refresh's reads reused)."""
        stats = {}
        # a service started since the last walk (a worker) is picked up on the next tick, not a second later
        if now - self._trees_at >= CHILD_REFRESH_S or not self._trees or set(roles) != self._tree_names:
            stats = self._refresh_trees(now)
        for procs in self._trees.values():
            for pid in procs:
                if pid not in stats:
                    st = self._files.read(pid)
                    if st is not None:
                        stats[pid] = st
        return stats

    def sample_once(self) -> None:
        now = time.monotonic()
        t_ns = time.time_ns()
        roles = self._roles()
        stats = self._stats(now, roles)
        interval = None if self._last_t is None else now - self._last_t
        refresh_pss = now - self._pss_at >= PSS_REFRESH_S
        if refresh_pss:
            self._pss_at = now
        # processes born less than one interval ago ran only since the last tick: charge all their CPU
        born_after = time.clock_gettime(time.CLOCK_BOOTTIME) - interval if interval is not None else None
        seen: dict[tuple[int, float], float] = {}
        for name, procs in self._trees.items():
            cpu_s = 0.0
            rss = pss = alive = 0
            for pid in procs:
                st = stats.get(pid)
                if st is None:
                    continue
                alive += 1
                rss += st.rss_bytes
                if refresh_pss or pid not in self._pss:
                    self._pss[pid] = pss_bytes(pid) or 0
                pss += self._pss[pid]
                key = (pid, st.start_s)
                seen[key] = st.cpu_s
                prev = self._last_cpu.get(key)
                if prev is not None:
                    cpu_s += st.cpu_s - prev
                elif born_after is not None and st.start_s >= born_after:
                    cpu_s += st.cpu_s
            if alive:
                self.rows.append(
                    {
                        "t_ns": t_ns,
                        "phase": self.phase,
                        "service": name,
                        "role": roles.get(name, ""),
                        "cpu_pct": None if interval is None else 100.0 * cpu_s / interval,
                        "rss_bytes": rss,
                        "pss_bytes": pss,
                        "procs": alive,
                        "source": "procfs",
                    }
                )
        self._last_cpu = seen
        live = {pid for pid, _ in seen}
        self._pss = {pid: v for pid, v in self._pss.items() if pid in live}
        self._last_t = now
        self.ticks += 1

    def take_rows(self) -> list[dict]:
        """Rows sampled so far (a copy: the thread keeps appending)."""
        return list(self.rows)
