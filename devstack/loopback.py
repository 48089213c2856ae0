"""Load and fault tools send traffic to this machine only: loopback addresses, nothing else."""

from __future__ import annotations

import ipaddress
import random
import socket
from pathlib import Path


def require_loopback(address: str) -> str:
    host = address.rpartition(":")[0].strip("[]")
    if host != "localhost":
        try:
            if ipaddress.ip_address(host).is_loopback:
                return address
        except ValueError:
            pass
        raise SystemExit(f"{address}: load is only ever sent to loopback addresses (127.0.0.0/8, ::1, localhost)")
    return address


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out as the local end of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody uses right now, for a server that another process will bind soon after.

    It is taken from below the kernel's ephemeral range: a port the OS picks (bind to 0) is one it
    also gives to outgoing connections, and one of the many a test run opens could hold it by the
    time the server binds ("Address already in use").
    """
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            if not port_in_use(host, port):
                return port
    with socket.socket() as probe:  # a crowded range: let the OS pick after all
        probe.bind((host, 0))
        return probe.getsockname()[1]


def free_address(host: str = "127.0.0.1") -> str:
    """host:port with nobody listening (yet): for a server to bind, or as a dead peer."""
    return f"{host}:{free_port(host)}"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0
