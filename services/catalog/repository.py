"""The catalog's SQL, one method per named query in queries.sql."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..runtime.queries import load_queries
from .model import Disc, DiscFilter, NewDisc, Reservation, from_row

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with the user's % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CatalogRepository:
    def __init__(self, cursor):
        self._cursor = cursor

    def _one(self, name: str, params: dict):
        self._cursor.execute(QUERIES[name], params)
        return self._cursor.fetchone()

    def create_disc(self, disc: NewDisc, request_id: str | None) -> Disc | None:
        """The new disc, or None when request_id was already used."""
        row = self._one("create_disc", {**asdict(disc), "request_id": request_id})
        return from_row(Disc, row) if row else None

    def get_disc_by_request_id(self, request_id: str) -> Disc | None:
        row = self._one("get_disc_by_request_id", {"request_id": request_id})
        return from_row(Disc, row) if row else None

    def get_disc(self, disc_id: str) -> Disc | None:
        row = self._one("get_disc", {"id": disc_id})
        return from_row(Disc, row) if row else None

    def list_discs(self, where: DiscFilter, after_id: str | None, limit: int) -> list[Disc]:
        self._cursor.execute(QUERIES["list_discs"], {
            "artist": like_pattern(where.artist) if where.artist else None,
            "title": like_pattern(where.title) if where.title else None,
            "genre": where.genre,
            "release_year": where.release_year,
            "after_id": after_id,
            "limit": limit,
        })
        return [from_row(Disc, row) for row in self._cursor.fetchall()]

    def restock_disc(self, disc_id: str, quantity: int) -> Disc | None:
        row = self._one("restock_disc", {"id": disc_id, "quantity": quantity})
        return from_row(Disc, row) if row else None

    def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int) -> Reservation | None:
        """The new reservation; None when the disc does not exist.

        Raises psycopg2.errors.UniqueViolation when the reservation id was used before.
        """
        row = self._one("reserve_stock", {"reservation_id": reservation_id, "disc_id": disc_id, "quantity": quantity})
        return from_row(Reservation, row) if row else None

    def get_reservation(self, reservation_id: str) -> Reservation | None:
        row = self._one("get_reservation", {"reservation_id": reservation_id})
        return from_row(Reservation, row) if row else None

    def release_reservation(self, reservation_id: str) -> None:
        self._cursor.execute(QUERIES["release_reservation"], {"reservation_id": reservation_id})
