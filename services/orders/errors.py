"""The orders service's own errors, beyond the shared ones of runtime/errors.py."""

from __future__ import annotations

from ..runtime.errors import ServiceError


class RecordRefused(ServiceError):
    """The database refused a purchase's values (a total beyond bigint, a CHECK): the same
    statement fails the same way every time, so the purchase can never be recorded so. INTERNAL
    if it ever reaches a client: the values were ours, not the client's."""

    def __init__(self, message: str):
        super().__init__(f"the database refused it: {message}", "PURCHASE_NOT_RECORDABLE")


class PeerRefused(ServiceError):
    """A peer refused a request for good (INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION,
    OUT_OF_RANGE): asking again, now or later, gets the same answer. The purchase that sent it
    cannot go on; it is INTERNAL only if it ever reaches a client, since the request was ours."""


class MalformedAnswer(ServiceError):
    """A peer answered something the contract does not allow (a price not in whole cents, a
    state it never sends, a reservation of another disc): the peer's fault, never the caller's.
    INTERNAL if it reaches a client, with the peer's reason (CATALOG_MALFORMED_ANSWER)."""

    def __init__(self, peer: str, what: str):
        super().__init__(f"the {peer} service answered a malformed {what}", f"{peer.upper()}_MALFORMED_ANSWER")
