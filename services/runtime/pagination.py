"""AIP-158 paging: page_size rules and opaque page tokens bound to the filters they came with."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from .errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """0 means the default; above the maximum is coerced down; negative is refused."""
    if requested < 0:
        raise InvalidArgument("page_size", f"must not be negative, got {requested}")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _fingerprint(filters: dict) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cut_page(rows: list, page_size: int, filters: dict, sort_key) -> tuple[list, str]:
    """The page and its next_page_token, from `page_size + 1` rows fetched after the last key.

    The extra row only says that a next page exists; the token continues after the page's last
    row, whose sort key (a list of JSON values) is `sort_key(row)`.
    """
    if len(rows) <= page_size:
        return rows, ""
    page = rows[:page_size]
    return page, encode_token(sort_key(page[-1]), filters)


def encode_token(last_key: list, filters: dict) -> str:
    """A token for the page after the row whose sort key is `last_key`."""
    payload = json.dumps({"k": last_key, "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, filters: dict) -> list | None:
    """The sort key a token continues after; None for the first page.

    A token only continues the listing it came from: other filters are INVALID_ARGUMENT.
    """
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, fingerprint = payload["k"], payload["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidArgument("page_token", "is not a token this API issued") from None
    if not isinstance(key, list) or fingerprint != _fingerprint(filters):
        raise InvalidArgument("page_token", "does not belong to a listing with these filters")
    return key
