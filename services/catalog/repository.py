"""The catalog's SQL, one method per named query in queries.sql.

Reservations are counted (recordstore_reservations_total) where their row is made: reserve_stock
returns a reservation only to the call that made it (a repeated id is refused), so a retried
ReserveStock is counted once.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..runtime import metrics
from ..runtime.db import Database, UniqueViolation
from ..runtime.queries import load_queries
from ..runtime.store import Repository, Store
from .errors import ReservationIdTaken, RestockIdTaken
from .model import Disc, DiscFilter, NewDisc, Reservation, ReservationState, Restock, StockRequest

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
# The queries on reservations may name any state: %(granted)s is ReservationState.GRANTED.
STATES = {state.name.lower(): state for state in ReservationState}
_MADE = {state: metrics.RESERVATIONS.labels(state.value) for state in ReservationState}


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with the user's % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_discs_params(where: DiscFilter, after_id: str | None, limit: int) -> dict:
    return {
        "artist": like_pattern(where.artist) if where.artist else None,
        "title": like_pattern(where.title) if where.title else None,
        "genre": where.genre,
        "release_year": where.release_year,
        "after_id": after_id,
        "limit": limit,
    }


class CatalogRepository(Repository):
    async def _disc(self, name: str, params: dict) -> Disc | None:
        return await self._connection.one_record(Disc, QUERIES[name], params)

    async def _reservation(self, name: str, params: dict) -> Reservation | None:
        return await self._connection.one_record(Reservation, QUERIES[name], {**STATES, **params})

    async def create_disc(self, disc: NewDisc, request_id: str | None) -> Disc | None:
        """The new disc, or None when request_id was already used."""
        return await self._disc("create_disc", {**asdict(disc), "request_id": request_id})

    async def get_disc_by_request_id(self, request_id: str) -> Disc | None:
        return await self._disc("get_disc_by_request_id", {"request_id": request_id})

    async def get_disc(self, disc_id: str) -> Disc | None:
        return await self._disc("get_disc", {"id": disc_id})

    async def list_discs(self, where: DiscFilter, after_id: str | None, limit: int) -> list[Disc]:
        return await self._connection.all_records(
            Disc, QUERIES["list_discs"], list_discs_params(where, after_id, limit)
        )

    async def restock_disc(self, disc_id: str, quantity: int, max_stock: int, request_id: str | None) -> Disc | None:
        """The restocked disc; None when it does not exist, the units would not fit, or request_id
        was used before. Raises RestockIdTaken when a concurrent call used it at this moment."""
        params = {"id": disc_id, "quantity": quantity, "max_stock": max_stock, "request_id": request_id}
        try:
            return await self._disc("restock_disc", params)
        except UniqueViolation:
            raise RestockIdTaken(str(request_id)) from None

    async def get_restock(self, request_id: str) -> Restock | None:
        return await self._connection.one_record(Restock, QUERIES["get_restock"], {"request_id": request_id})

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int) -> Reservation | None:
        """The new reservation; None when the disc does not exist.

        Raises ReservationIdTaken when the reservation id was used before.
        """
        try:
            made = await self._reservation(
                "reserve_stock", {"reservation_id": reservation_id, "disc_id": disc_id, "quantity": quantity}
            )
        except UniqueViolation:
            raise ReservationIdTaken(reservation_id) from None
        if made is not None:
            _MADE[made.state].inc()
        return made

    async def lock_discs(self, disc_ids: list[str]) -> None:
        """Locks the discs a batch of reservations will touch, in id order (the statement's ORDER
        BY), until its transaction ends."""
        await self._connection.run(QUERIES["lock_discs"], {"disc_ids": disc_ids})

    async def reserve_stocks(self, asked: list[StockRequest]) -> list[Reservation]:
        """The reservations made of `asked` (each its own disc and id); those whose id existed are
        left out. Raises ReservationIdTaken when a concurrent call made one of them at this moment."""
        params = {
            **STATES,
            "reservation_ids": [r.reservation_id for r in asked],
            "disc_ids": [r.disc_id for r in asked],
            "quantities": [r.quantity for r in asked],
        }
        try:
            return await self._connection.all_records(Reservation, QUERIES["reserve_stocks"], params)
        except UniqueViolation:
            raise ReservationIdTaken(", ".join(r.reservation_id for r in asked)) from None

    async def get_reservation(self, reservation_id: str) -> Reservation | None:
        return await self._reservation("get_reservation", {"reservation_id": reservation_id})

    async def release_reservation(self, reservation_id: str) -> None:
        await self._connection.run(QUERIES["release_reservation"], {**STATES, "reservation_id": reservation_id})


def store(database: Database) -> Store[CatalogRepository]:
    """The one way the service (and its tests) reach its tables."""
    return Store(database, CatalogRepository)
