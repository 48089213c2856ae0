"""The catalog's own errors, beyond the shared ones of runtime/errors.py."""

from __future__ import annotations

from ..runtime.errors import AlreadyExists
from .model import Reservation


class ReservationIdTaken(AlreadyExists):
    """A reservation under this id exists already (made before, or at this very moment by a
    concurrent duplicate): the first outcome stands, and the use case reads it. Never reaches a
    client as such."""

    def __init__(self, reservation_id: str):
        super().__init__(f"reservation {reservation_id!r} exists already", "RESERVATION_ID_TAKEN")


class RestockIdTaken(AlreadyExists):
    """A restock under this request id was made at this very moment by a concurrent duplicate: its
    units are in, and the use case reads it. Never reaches a client as such."""

    def __init__(self, request_id: str):
        super().__init__(f"a restock under {request_id!r} exists already", "RESTOCK_ID_TAKEN")


class ReservationIdReused(AlreadyExists):
    """The reservation id names a reservation of other units: its first outcome stands."""

    def __init__(self, first: Reservation):
        super().__init__(
            f"reservation {first.id!r} was made for {first.quantity} unit(s) of disc {first.disc_id!r}",
            "RESERVATION_ID_REUSED",
        )
