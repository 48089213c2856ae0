"""Load and fault tools send traffic to this machine only: loopback addresses, nothing else."""

from __future__ import annotations

import ipaddress
import socket


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


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def free_address(host: str = "127.0.0.1") -> str:
    """host:port with nobody listening (yet): for a server to bind, or as a dead peer."""
    return f"{host}:{free_port(host)}"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0
