"""Inputs built by hand to break the services, shared by the gRPC and the JSON tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from services.runtime import pagination


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forged_token(key, filters: dict, secret: bytes | None = None) -> str:
    """A page token with sort key `key` for a listing with `filters`: its MAC is made with `secret`
    (a leaked secret) or, without one, is 32 zero bytes (a forgery)."""
    payload = b64(json.dumps({"k": key, "f": pagination._fingerprint(filters)}).encode())
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest() if secret else b"\0" * 32
    return f"{payload}.{b64(mac)}"


def altered(token: str, index: int) -> str:
    """`token` with its character at `index` replaced by another one of the same alphabet."""
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1:]
