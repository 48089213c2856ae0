"""The catalog's records, as the repository returns them, and the states of a reservation.

A record's fields are columns of its table, taken by name (runtime.db builds it from the
statement's columns); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from recordstore.catalog.v1 import catalog_pb2

from ..runtime import rules

# Units of one disc on hand, at most: what CreateDisc accepts and what RestockDisc may bring the
# stock up to. Only ReleaseStock may go beyond it: it gives back units sold before a restock, and
# a cancellation must never fail for want of room (see queries.sql, release_reservation).
# Stated in catalog.proto (Disc.stock's maximum).
MAX_STOCK = rules.of(catalog_pb2.Disc, "stock").maximum


@dataclass(frozen=True)
class NewDisc:
    title: str
    artist: str
    genre: str
    release_year: int
    price_cents: int
    currency: str
    stock: int


@dataclass(frozen=True)
class Disc:
    id: str
    request_id: str | None
    title: str
    artist: str
    genre: str
    release_year: int
    price_cents: int
    currency: str
    stock: int
    initial_stock: int
    restocked: int
    create_time: datetime
    update_time: datetime

    def is_for(self, disc: NewDisc) -> bool:
        """Whether `disc` is the request that created this one (a retry), judged on the stored
        fields rather than a hash of the request: both sides are the cleaned values (NFC, trimmed),
        so a retry spelled in another Unicode form is still the same request, discs made before
        this check are judged too, and stock is compared as it came in (it moves with sales)."""
        stored = (self.title, self.artist, self.genre, self.release_year, self.price_cents, self.currency)
        sent = (disc.title, disc.artist, disc.genre, disc.release_year, disc.price_cents, disc.currency)
        return stored == sent and self.initial_stock == disc.stock


@dataclass(frozen=True)
class Restock:
    """A restock sent with a request id: the id's first use, so that a retry adds nothing."""

    request_id: str
    disc_id: str
    quantity: int
    create_time: datetime


@dataclass(frozen=True)
class DiscFilter:
    """ListDiscs filters; None means no filter on that field."""

    artist: str | None = None
    title: str | None = None
    genre: str | None = None
    release_year: int | None = None


class ReservationState(StrEnum):
    """A reservation's outcome, as stored (the CHECK of catalog.reservations.state lists the same):
    granted (units taken) or rejected (not enough stock); a granted one is released once."""

    GRANTED = "granted"
    REJECTED = "rejected"
    RELEASED = "released"


@dataclass(frozen=True)
class Reservation:
    id: str
    disc_id: str
    quantity: int
    state: ReservationState
    unit_price_cents: int
    currency: str
    create_time: datetime
    release_time: datetime | None

    def __post_init__(self) -> None:
        if type(self.state) is not ReservationState:  # as read from the database: text
            object.__setattr__(self, "state", ReservationState(self.state))


@dataclass(frozen=True)
class StockRequest:
    """One reservation asked for: `quantity` units of a disc, under the caller's reservation id."""

    reservation_id: str
    disc_id: str
    quantity: int


def layers(asked: list[StockRequest]) -> list[list[StockRequest]]:
    """`asked`, split so that no layer names a disc or a reservation id twice: one statement
    reserves a layer (an UPDATE changes a row once), and the layers run in order, so a disc asked
    twice is decremented twice and a repeated id finds the first made."""
    split: list[tuple[list[StockRequest], set[tuple[str, str]]]] = []
    for request in asked:
        keys = {("disc", request.disc_id), ("reservation", request.reservation_id)}
        for layer, named in split:
            if named.isdisjoint(keys):
                layer.append(request)
                named |= keys
                break
        else:
            split.append(([request], keys))
    return [layer for layer, _ in split]
