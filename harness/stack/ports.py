"""Loopback ports: every stack binds 127.0.0.1 only."""

from __future__ import annotations

import random
import socket

from harness.model.errors import BenchError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def free_port_below(limit: int = 32768, floor: int = 20000) -> int:
    """A free port under `limit`, for services that store ports in 16-bit signed columns
    (Temporal's cluster membership table); the kernel's ephemeral range starts above it."""
    for _ in range(200):
        port = random.randrange(floor, limit)
        if is_free(port):
            return port
    raise BenchError(f"no free loopback port between {floor} and {limit}")


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def ensure_free(port: int, owner: str) -> None:
    if not is_free(port):
        raise BenchError(f"port {port} on {LOOPBACK} is already in use (needed by {owner})")


def accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False
