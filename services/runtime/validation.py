"""Checks of request fields shared by the services; each failure names the field."""

from __future__ import annotations

import uuid

from .errors import InvalidArgument


def require_id(field: str, value: str) -> str:
    """A resource id: a UUID in its canonical text form."""
    if not value:
        raise InvalidArgument(field, "is required")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(field, f"must be a UUID, got {value!r}") from None
    return str(parsed)


def optional_id(field: str, value: str) -> str | None:
    return require_id(field, value) if value else None


def require_text(field: str, value: str, max_length: int = 200) -> str:
    stripped = value.strip()
    if not stripped:
        raise InvalidArgument(field, "is required")
    return limit_length(field, stripped, max_length)


def limit_length(field: str, value: str, max_length: int = 200) -> str:
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return value


def require_positive(field: str, value: int) -> int:
    if value <= 0:
        raise InvalidArgument(field, f"must be greater than 0, got {value}")
    return value


def request_id(value: str) -> str | None:
    """AIP-155 request ids are optional; when given they must be UUIDs, as the AIP recommends."""
    return optional_id("request_id", value)
