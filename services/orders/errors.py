"""The orders service's own errors, beyond the shared ones of runtime/errors.py."""

from __future__ import annotations

from ..runtime.errors import ServiceError


class RecordRefused(ServiceError):
    """The database refused a purchase's values (a total beyond bigint, a CHECK): the same
    statement fails the same way every time, so the purchase can never be recorded so. INTERNAL
    if it ever reaches a client: the values were ours, not the client's."""

    def __init__(self, message: str):
        super().__init__(f"the database refused it: {message}", "PURCHASE_NOT_RECORDABLE")
