"""The request id that makes a create (or a restock) safe to retry (AIP-155), wherever the client put it.

A gRPC client sets the request's `request_id`. A JSON client may put it in the query string, in
the body (where the resource has a `request_id` field) or send the `Idempotency-Key` header that
JSON APIs use (Stripe; the IETF httpapi draft); Envoy passes headers on as gRPC metadata. All of
them name the same thing, so a request that gives two different ones is refused.

A header key need not be a UUID: any other key is mapped to one (UUID v5), within a scope (the
buying customer, say), so that the same key always names the same request and two clients that
happen to pick the same key do not collide.

A request id names one request: sent again with other fields, the call is refused as
REQUEST_ID_REUSED (naming the id as the client sent it, not the UUID a key maps to). A method
that is idempotent without one refuses the header, so that no client believes a key protects it.
"""

from __future__ import annotations

import uuid

from .errors import AlreadyExists, InvalidArgument
from .validation import optional_id

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
# Fixed forever: changing it would change the request id of every key already used.
_KEY_NAMESPACE = uuid.UUID("6f1c2b5e-3d0a-4c8e-9b7a-2e5d4f6a8c10")


class RequestId(str):
    """A request id (a UUID, as stored) that remembers how the client named it, for messages: a
    key that is no UUID maps to one the client never saw."""

    named: str

    @classmethod
    def given(cls, value: str, named: str) -> RequestId:
        request_id = cls(value)
        request_id.named = named
        return request_id


class RequestIdReused(AlreadyExists):
    def __init__(self, request_id: str, used_for: str):
        named = getattr(request_id, "named", f"request_id {request_id!r}")
        super().__init__(f"{named} was used for {used_for}", "REQUEST_ID_REUSED")


def header_key(context) -> str | None:
    """The Idempotency-Key header (gRPC metadata) of a call, if any; sent twice, it must agree."""
    keys = {
        value if isinstance(value, str) else value.decode("ascii", "replace")
        for key, value in context.invocation_metadata() or ()
        if key == HEADER
    }
    if len(keys) > 1:
        raise InvalidArgument("Idempotency-Key", "is sent more than once, with different keys")
    return keys.pop() if keys else None


def key_to_request_id(key: str, scope: str = "") -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= char <= "~" for char in key):
        raise InvalidArgument("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(_KEY_NAMESPACE, f"{scope}\x1f{key}"))


def request_id(context, fields: dict[str, str], scope: str = "") -> RequestId | None:
    """The one request id given by `fields` (field name -> value, empty when not set) and the
    header; None when none is given. Each field must hold a UUID; all given must agree."""
    given: list[tuple[str, str, str]] = []
    for name, value in fields.items():
        checked = optional_id(name, value)
        if checked is not None:
            given.append((name, checked, value))
    key = header_key(context)
    if key is not None:
        given.append(("Idempotency-Key", key_to_request_id(key, scope), key))
    if not given:
        return None
    first_name, first, as_sent = given[0]
    for name, value, _ in given[1:]:
        if value != first:
            raise InvalidArgument(name, f"names another request than {first_name} does")
    return RequestId.given(first, f"{first_name} {as_sent!r}")


def refuse_key(context, method: str) -> None:
    """For a method that is idempotent without a key (the same call again changes nothing): a key
    sent to it would be ignored, and a client would believe it had made the call safe to retry."""
    if header_key(context) is not None:
        raise InvalidArgument(
            "Idempotency-Key",
            f"is not accepted by {method}, which is idempotent without one: send the call again as it was",
            "IDEMPOTENCY_KEY_NOT_ACCEPTED",
        )
