"""Load and fault tools send traffic to this machine only: loopback addresses, nothing else."""

from __future__ import annotations

import ipaddress


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
