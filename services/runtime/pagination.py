"""AIP-158 paging: opaque page tokens bound to the filters they came with (page_size is the protos' rules).

A token is `<payload>.<mac>`: the payload (base64url JSON: the last row's sort key and a
fingerprint of the filters) and an HMAC-SHA256 of it under a server secret (PAGE_TOKEN_SECRET).
A client hands the token back, so nothing in it is trusted before the MAC matches, and even then
the key must have the shape the listing expects: whatever else comes back is INVALID_ARGUMENT,
and never reaches SQL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from .errors import InvalidArgument

log = logging.getLogger(__name__)

# Ours are under 200 characters (a timestamp and a UUID); anything much longer is not ours and is
# refused before any decoding.
MAX_TOKEN_LENGTH = 512

# The kinds of value a sort key is made of (what decode_token checks, and what it returns).
UUID = "uuid"  # a str: the canonical text of a UUID
TIMESTAMP = "timestamp"  # a timezone-aware datetime, from RFC 3339 text

_REASON = "INVALID_PAGE_TOKEN"
_OWN_SECRET = secrets.token_bytes(32)  # this process's, while no PAGE_TOKEN_SECRET is given
_secret = _OWN_SECRET


def sign_with(secret: bytes | None) -> None:
    """Signs and checks the process's page tokens with `secret` (PAGE_TOKEN_SECRET, read by
    config.ServerSettings; runtime.server.start hands it here); None: a key of this process's own."""
    global _secret
    if secret is None:
        log.warning(
            "PAGE_TOKEN_SECRET is not set: page tokens are signed with a key of this process's own, so "
            "they stop working at a restart and are refused by any other replica"
        )
    _secret = secret or _OWN_SECRET


def _process_secret() -> bytes:
    return _secret


def _fingerprint(filters: dict) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mac(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def cut_page(rows: list, page_size: int, filters: dict, sort_key) -> tuple[list, str]:
    """The page and its next_page_token, from `page_size + 1` rows fetched after the last key.

    The extra row only says that a next page exists; the token continues after the page's last
    row, whose sort key (a list of JSON values) is `sort_key(row)`.
    """
    if len(rows) <= page_size:
        return rows, ""
    page = rows[:page_size]
    return page, encode_token(sort_key(page[-1]), filters)


def encode_token(last_key: list, filters: dict, secret: bytes | None = None) -> str:
    """A token for the page after the row whose sort key is `last_key`."""
    payload = _b64(json.dumps({"k": last_key, "f": _fingerprint(filters)}, separators=(",", ":")).encode())
    return f"{payload}.{_mac(payload, secret or _process_secret())}"


def decode_token(token: str, filters: dict, key_kinds: Sequence[str], secret: bytes | None = None) -> list | None:
    """The sort key a token continues after, its values checked against `key_kinds` (UUID,
    TIMESTAMP) and converted; None for the first page.

    A token only continues the listing it came from: other filters are INVALID_ARGUMENT.
    """
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidArgument("page_token", "is not a token this API issued", _REASON)
    payload, _, mac = token.partition(".")
    # The MAC is compared as text: comparing decoded bytes would let a changed padding bit through.
    if not hmac.compare_digest(mac.encode(), _mac(payload, secret or _process_secret()).encode()):
        raise InvalidArgument("page_token", "is not a token this API issued", _REASON)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        key, fingerprint = decoded["k"], decoded["f"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        # Only a token signed with our secret gets here: a bug of ours, or a leaked secret.
        raise InvalidArgument("page_token", "is not a token this API issued", _REASON) from None
    if fingerprint != _fingerprint(filters):
        raise InvalidArgument("page_token", "does not belong to a listing with these filters", _REASON)
    return _checked_key(key, key_kinds)


def _checked_key(key, kinds: Sequence[str]) -> list:
    if not isinstance(key, list) or len(key) != len(kinds):
        raise InvalidArgument("page_token", "does not belong to this listing", _REASON)
    return [_checked_value(value, kind) for value, kind in zip(key, kinds, strict=True)]


def _checked_value(value, kind: str):
    parsed = _parsed(value, kind) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgument("page_token", "does not belong to this listing", _REASON)
    return parsed


def _parsed(value: str, kind: str):
    """The key part `value` as `kind` describes it; None when it is not one."""
    try:
        if kind == UUID:
            return str(uuid.UUID(value))
        if kind == TIMESTAMP:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo is not None else None
    except ValueError:
        return None
    return None
