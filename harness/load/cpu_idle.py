"""Keeping idle CPUs awake while a load step is sent (Linux PM QoS), without gevent: the pacer
holds it in each Locust worker, and tests use it directly."""

from __future__ import annotations

import os
import struct

# Linux's PM QoS interface: while a process holds it open with 0 written, idle CPUs poll, never halt.
CPU_LATENCY_DEVICE = "/dev/cpu_dma_latency"


def current_request_us(device: str = CPU_LATENCY_DEVICE) -> int | None:
    """The machine's effective CPU latency request in µs (2,000,000,000: none), or None if unreadable."""
    try:
        with open(device, "rb") as f:
            return struct.unpack("i", f.read(4))[0]
    except (OSError, struct.error):
        return None


def can_hold(device: str = CPU_LATENCY_DEVICE) -> bool:
    """Whether this process may make the request (root here, or a udev rule granting the device)."""
    return os.access(device, os.W_OK)


class IdlePoll:
    """While held, asks the kernel for 0 µs CPU wake-up latency (PM QoS), so idle CPUs poll instead
    of halting; `state` says what was done.

    Why: on a virtual machine a halted vCPU must be woken by the host, and on the 2-core Firecracker
    VM that wake-up alone put the pacer's send lag p99 at 4-13 ms at 200-1,000 submissions/s with
    the machine idle (the same pacer kept up at 2,500/s when two nice-19 busy loops kept both vCPUs
    awake). The request is machine-wide and lasts only while the share is sent: the platform's
    processes on this machine wake faster too, so a load result records it (`generator_setup`).
    Polling is idle time to the guest's accounting; no process's CPU figure changes.
    BENCH_LOAD_IDLE_POLL=0 leaves the machine's default."""

    def __init__(self, device: str = CPU_LATENCY_DEVICE):
        self.device = device
        self._fd: int | None = None
        self.state = "default"

    def __enter__(self) -> "IdlePoll":
        if os.environ.get("BENCH_LOAD_IDLE_POLL", "1") == "0":
            self.state = "default (BENCH_LOAD_IDLE_POLL=0)"
            return self
        try:
            self._fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)
            os.write(self._fd, struct.pack("i", 0))
        except OSError as exc:
            self.__exit__()
            self.state = f"default ({type(exc).__name__}: {exc.strerror or exc})"
        else:
            self.state = "idle CPUs poll (PM QoS 0 us held while sending)"
        return self

    def __exit__(self, *_exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the device withdraws the request
            self._fd = None
