"""What a stack's processes listen on beyond loopback.

Every stack here binds 127.0.0.1 only. A platform whose server offers no setting for its address
(Hatchet's API server listens on `:port`) is declared in its stack file (`beyond_loopback:` on the
service, with the reason); the session records every such listener in the run and ends a run whose
stack opened one that is not declared.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import psutil

WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Listener:
    service: str
    address: str  # "0.0.0.0:8080", "[::]:8080"
    protocol: str  # tcp | udp

    def __str__(self) -> str:
        return f"{self.service} {self.protocol} {self.address}"


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def beyond_loopback(processes: dict[str, psutil.Process]) -> list[Listener]:
    """Every listening TCP socket (and bound UDP socket) of these services' processes and their
    children whose address is not loopback, sorted."""
    owner: dict[int, str] = {}
    for name, proc in processes.items():
        try:
            for p in (proc, *proc.children(recursive=True)):
                owner[p.pid] = name
        except psutil.Error:
            continue  # gone: a dead service is check_alive's to report
    found = set()
    for c in psutil.net_connections(kind="inet"):
        listening = c.status == psutil.CONN_LISTEN or (c.type == 2 and not c.raddr)  # 2: SOCK_DGRAM
        if not listening or c.pid not in owner or not c.laddr or _loopback(c.laddr.ip):
            continue
        host = f"[{c.laddr.ip}]" if ":" in c.laddr.ip else c.laddr.ip
        found.add(Listener(owner[c.pid], f"{host}:{c.laddr.port}", "udp" if c.type == 2 else "tcp"))
    return sorted(found, key=str)


def wildcard_ports() -> set[int]:
    """TCP ports something on this host listens on for every interface."""
    return {
        c.laddr.port
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.ip in WILDCARDS
    }
