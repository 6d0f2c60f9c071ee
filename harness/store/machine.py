"""Metadata about the machine and the harness that produced a result.

`machine()` describes the machine once per run, as pyperf does (CPU model, cores, RAM, OS, kernel,
Python, CI, CPU governor and frequency where /sys or /proc expose them; None where they do not, as
in many VMs). `RepetitionProbe` watches one repetition: load average, CPU steal time and other
processes competing for the CPU, so a repetition measured on a busy machine is flagged, not trusted.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil

from harness.model.paths import REPO_ROOT
from harness.model.record import BusyProcess, HarnessRevision, Machine, MachineState

CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")
PROC_STAT = Path("/proc/stat")
PROC_SELF_STAT = Path("/proc/self/stat")
# A process using more than this share of one core during a repetition is named in its record.
BUSY_PROCESS_PCT = 10.0
# pyperf-like limits beyond which a repetition's numbers are not to be trusted: other processes
# together took a quarter of a core, or the hypervisor stole more than 5% of the CPU time.
BUSY_OTHERS_PCT = 25.0
BUSY_STEAL_PCT = 5.0
# CPU time comes in clock ticks (10 ms); over a shorter window one tick would read as a busy
# process, so shares are taken over at least this long (an under-estimate for shorter repetitions).
MIN_WINDOW_S = 0.5
# Start times are rounded to the kernel's clock ticks and boot time.
CREATE_TIME_SLACK_S = 0.1


def cpu_model() -> str:
    for line in _read_lines(Path("/proc/cpuinfo")):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> Machine:
    return Machine(
        cpu_model=cpu_model(),
        logical_cores=os.cpu_count(),
        physical_cores=psutil.cpu_count(logical=False),
        ram_bytes=psutil.virtual_memory().total,
        os=platform.platform(),
        kernel=platform.release(),
        python=sys.version.split()[0],
        ci=bool(os.environ.get("CI")),
        cpu_governor=_read_text(CPUFREQ / "scaling_governor"),
        cpu_driver=_read_text(CPUFREQ / "scaling_driver"),
        cpu_freq_mhz=cpu_freq_mhz(),
        cpu_freq_max_mhz=_khz_as_mhz(_read_text(CPUFREQ / "cpuinfo_max_freq")),
        load_avg_1m=load_avg_1m(),
    )


def cpu_freq_mhz() -> float | None:
    """cpu0's current frequency: cpufreq where the kernel exposes it, else /proc/cpuinfo (as pyperf)."""
    mhz = _khz_as_mhz(_read_text(CPUFREQ / "scaling_cur_freq"))
    if mhz is not None:
        return mhz
    for line in _read_lines(Path("/proc/cpuinfo")):
        if line.startswith("cpu MHz"):
            try:
                return float(line.split(":", 1)[1])
            except ValueError:
                return None
    return None


def load_avg_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def harness_revision() -> HarnessRevision:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    # Changes to the harness itself, not to results/ (where earlier results may have been removed).
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return HarnessRevision(git_sha=sha, dirty=bool(dirty) if dirty is not None else None)


class RepetitionProbe:
    """Watches the machine over one repetition, cheaply (about 10 ms each for begin and end with 150
    processes): one walk of the process table at `begin()` and one at `end()`, two reads of
    /proc/stat and of the load average.

    `exclude_pids` returns the processes that belong to the run (the stack's services, wherever
    they run, e.g. containers); the harness's own process and its descendants are always excluded.
    """

    def __init__(self, exclude_pids: Callable[[], set[int]] = set):
        self._exclude_pids = exclude_pids
        self._t0: float | None = None
        self._wall0 = 0.0
        self._load0: float | None = None
        self._stat0: tuple[int, int] | None = None
        self._procs0: dict[int, _ProcSample] = {}

    def begin(self) -> None:
        self._t0, self._wall0 = time.monotonic(), time.time()
        self._load0 = load_avg_1m()
        self._stat0 = _cpu_steal_and_total()
        self._procs0 = _process_table()

    def end(self) -> MachineState:
        if self._t0 is None:
            raise RuntimeError("RepetitionProbe.end() before begin()")
        duration = max(time.monotonic() - self._t0, 1e-6)
        steal = _steal_pct(self._stat0, _cpu_steal_and_total())
        procs = _process_table()
        ours = _descendants(os.getpid(), procs) | set(self._exclude_pids())
        others: list[BusyProcess] = []
        for pid, now in procs.items():
            if pid in ours:
                continue
            before = self._procs0.get(pid)
            if before is not None and before.created == now.created:
                cpu_s = now.cpu_s - before.cpu_s
            elif now.created >= self._wall0 - CREATE_TIME_SLACK_S:
                cpu_s = now.cpu_s  # started during the repetition: all its CPU time was spent in it
            else:
                continue  # existed at begin() but could not be read then: its share cannot be told
            others.append(BusyProcess(name=now.name, pid=pid, cpu_pct=100 * cpu_s / max(duration, MIN_WINDOW_S)))
        return _judge(duration, self._load0, load_avg_1m(), steal, others)


def _judge(
    duration: float, load0: float | None, load1: float | None, steal: float | None, others: list[BusyProcess]
) -> MachineState:
    total = sum(p.cpu_pct for p in others)
    reasons = []
    if steal is not None and steal > BUSY_STEAL_PCT:
        reasons.append(f"CPU steal {steal:.1f}%")
    if total > BUSY_OTHERS_PCT:
        named = sorted((p for p in others if p.cpu_pct > BUSY_PROCESS_PCT), key=lambda p: -p.cpu_pct)
        who = ", ".join(f"{p.name} {p.cpu_pct:.0f}%" for p in named[:3])
        reasons.append(f"other processes used {total:.0f}% of a core" + (f" ({who})" if who else ""))
    busy = sorted((p for p in others if p.cpu_pct > BUSY_PROCESS_PCT), key=lambda p: -p.cpu_pct)
    return MachineState(
        duration_s=duration,
        load_avg_1m_start=load0,
        load_avg_1m_end=load1,
        steal_pct=steal,
        busy_processes=busy,
        busy=bool(reasons),
        busy_reason="; ".join(reasons) or None,
    )


class _ProcSample:
    __slots__ = ("name", "ppid", "cpu_s", "created")

    def __init__(self, name: str, ppid: int, cpu_s: float, created: float):
        self.name, self.ppid, self.cpu_s, self.created = name, ppid, cpu_s, created


def _process_table() -> dict[int, _ProcSample]:
    """Every readable process: name, parent, CPU seconds, start time. One read of /proc/<pid>/stat
    each where /proc exists (five times cheaper than psutil's walk), psutil elsewhere."""
    if not PROC_SELF_STAT.exists():
        return _process_table_psutil()
    ticks = os.sysconf("SC_CLK_TCK")
    boot = psutil.boot_time()
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
            # comm may hold spaces and parentheses: it ends at the last ')'
            end = data.rindex(b")")
            name = data[data.index(b"(") + 1 : end].decode(errors="replace")
            rest = data[end + 2 :].split()
            table[int(entry.name)] = _ProcSample(
                name, int(rest[1]), (int(rest[11]) + int(rest[12])) / ticks, boot + int(rest[19]) / ticks
            )
        except (OSError, ValueError, IndexError):
            continue  # gone between listing and reading
    return table


def _process_table_psutil() -> dict[int, _ProcSample]:
    table = {}
    for proc in psutil.process_iter(["name", "ppid", "cpu_times", "create_time"]):
        info = proc.info
        times = info.get("cpu_times")
        if times is None or info.get("create_time") is None:
            continue  # gone, or not ours to read
        table[proc.pid] = _ProcSample(
            info.get("name") or "?", info.get("ppid") or 0, times.user + times.system, info["create_time"]
        )
    return table


def _descendants(root: int, table: dict[int, _ProcSample]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, p in table.items():
        children.setdefault(p.ppid, []).append(pid)
    out, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _cpu_steal_and_total() -> tuple[int, int] | None:
    """(steal, total) jiffies from /proc/stat's aggregate line; None where there is no /proc."""
    for line in _read_lines(PROC_STAT):
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            if len(fields) < 8:
                return None
            # user nice system idle iowait irq softirq steal; guest time is already in user
            return fields[7], sum(fields[:8])
    return None


def _steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100 * (after[0] - before[0]) / (after[1] - before[1])


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _read_lines(path: Path) -> list[str]:
    text = _read_text(path)
    return text.splitlines() if text else []


def _khz_as_mhz(text: str | None) -> float | None:
    try:
        return int(text) / 1000 if text else None
    except ValueError:
        return None
