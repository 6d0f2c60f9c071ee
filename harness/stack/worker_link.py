"""A network namespace for the harness's workers, joined to this host by a veth pair, so that a fault
can cut the link between the workers and every server and restore it (issue 10: network-partition).

Every service binds 127.0.0.1, which a process in another namespace cannot reach. So on the host
side socat, one process per server port, listens on the link's host address only and forwards to
127.0.0.1:port; the workers are given that address instead of 127.0.0.1. Nothing listens where
another machine could connect: the link's /30 exists only between this host and the namespace.

Cutting sets the host end of the link down: packets are dropped and no connection is reset, as in
a partition, and the kernel's retransmissions and the platforms' own timeouts decide what follows.
Restoring sets it up again. Needs root (CAP_NET_ADMIN), `ip` (iproute2) and `socat`.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

from harness.model.errors import BenchError
from harness.stack.service import ServiceSpec

SUBNETS = 256  # 10.231.<k>.0/30, k = 0..255: one per link on this host
LISTEN_TIMEOUT_S = 10.0
IP_TIMEOUT_S = 10.0


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    command = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and done.returncode != 0:
        raise BenchError(f"worker link: `{' '.join(command)}` failed: {done.stderr.strip()[:200]}")
    return done


def missing_tools() -> str | None:
    absent = [tool for tool in ("ip", "socat") if shutil.which(tool) is None]
    return f"a network partition needs {' and '.join(absent)} (apt-get install iproute2 socat)" if absent else None


@dataclass
class WorkerLink:
    netns: str
    host_if: str
    index: int

    @property
    def host_ip(self) -> str:
        return f"10.231.{self.index}.1"

    @property
    def worker_ip(self) -> str:
        return f"10.231.{self.index}.2"

    @classmethod
    def open(cls, tag: str) -> "WorkerLink":
        """Create the namespace and the link on the first free subnet; BenchError naming the cause."""
        if (why := missing_tools()) is not None:
            raise BenchError(why)
        for index in range(SUBNETS):
            host_if = f"bwl{index}h"
            if ip("link", "add", host_if, "type", "veth", "peer", "name", f"bwl{index}n", check=False).returncode:
                continue  # taken by another run's link
            link = cls(f"bench-{tag}-{index}", host_if, index)
            try:
                link._configure()
            except BaseException:
                link.close()
                raise
            return link
        raise BenchError(f"worker link: all {SUBNETS} link subnets of this host are in use")

    def _configure(self) -> None:
        peer = f"bwl{self.index}n"
        ip("netns", "add", self.netns)
        ip("link", "set", peer, "netns", self.netns)
        ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        ip("link", "set", self.host_if, "up")
        ip("addr", "add", f"{self.worker_ip}/30", "dev", peer, netns=self.netns)
        ip("link", "set", peer, "up", netns=self.netns)
        ip("link", "set", "lo", "up", netns=self.netns)

    def forwarders(self, ports: list[int]) -> list[ServiceSpec]:
        """One socat per port: the link's host address -> 127.0.0.1 (role harness: not the platform's)."""
        return [
            ServiceSpec(
                name=f"link-{port}",
                role="harness",
                command=["socat", f"TCP-LISTEN:{port},bind={self.host_ip},fork,reuseaddr", f"TCP:127.0.0.1:{port}"],
            )
            for port in ports
        ]

    def await_listening(self, ports: list[int]) -> None:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        for port in ports:
            while True:
                try:
                    socket.create_connection((self.host_ip, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise BenchError(
                            f"worker link: nothing listens on {self.host_ip}:{port} after {LISTEN_TIMEOUT_S:g}s (socat)"
                        ) from None
                    time.sleep(0.05)

    def wrap(self, spec: ServiceSpec) -> ServiceSpec:
        """The worker started inside the namespace (its children stay there)."""
        return dataclasses.replace(spec, command=["ip", "netns", "exec", self.netns, *spec.command])

    def cut(self) -> None:
        ip("link", "set", self.host_if, "down")

    def heal(self) -> None:
        ip("link", "set", self.host_if, "up")

    def close(self) -> None:
        """Remove the link and the namespace; what is already gone is fine."""
        ip("link", "del", self.host_if, check=False)
        ip("netns", "del", self.netns, check=False)


def remove(netns: str, host_if: str) -> None:
    """What a killed harness left (from its ledger)."""
    ip("link", "del", host_if, check=False)
    ip("netns", "del", netns, check=False)
