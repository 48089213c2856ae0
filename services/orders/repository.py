"""The orders service's SQL, one method per named query in queries.sql."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..runtime.queries import load_queries
from .model import Purchase, PurchaseFilter, PurchaseOrder, from_row

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))


class PurchaseRepository:
    def __init__(self, cursor):
        self._cursor = cursor

    def _one(self, name: str, params: dict) -> Purchase | None:
        self._cursor.execute(QUERIES[name], params)
        row = self._cursor.fetchone()
        return from_row(row) if row else None

    def _all(self, name: str, params: dict) -> list[Purchase]:
        self._cursor.execute(QUERIES[name], params)
        return [from_row(row) for row in self._cursor.fetchall()]

    def insert_pending_purchase(self, order: PurchaseOrder, request_id: str) -> Purchase | None:
        """The new pending purchase; None when request_id was already used."""
        return self._one("insert_pending_purchase", {
            "request_id": request_id, "customer_id": order.customer_id,
            "disc_id": order.disc_id, "quantity": order.quantity,
        })

    def get_purchase_by_request_id(self, request_id: str) -> Purchase | None:
        return self._one("get_purchase_by_request_id", {"request_id": request_id})

    def get_purchase(self, purchase_id: str) -> Purchase | None:
        return self._one("get_purchase", {"id": purchase_id})

    def settle_purchase(self, purchase_id: str, granted: bool, unit_price_cents: int, currency: str) -> Purchase | None:
        return self._one("settle_purchase", {"id": purchase_id, "granted": granted,
                                             "unit_price_cents": unit_price_cents, "currency": currency})

    def delete_pending_purchase(self, purchase_id: str) -> None:
        self._cursor.execute(QUERIES["delete_pending_purchase"], {"id": purchase_id})

    def start_cancellation(self, purchase_id: str) -> Purchase | None:
        return self._one("start_cancellation", {"id": purchase_id})

    def finish_cancellation(self, purchase_id: str) -> Purchase | None:
        return self._one("finish_cancellation", {"id": purchase_id})

    def list_purchases(self, where: PurchaseFilter, after: tuple[datetime, str] | None, limit: int) -> list[Purchase]:
        after_time, after_id = after if after else (None, None)
        return self._all("list_purchases", {
            "customer_id": where.customer_id, "start_time": where.start_time, "end_time": where.end_time,
            "after_time": after_time, "after_id": after_id, "limit": limit,
        })

    def list_unfinished_purchases(self, older_than_seconds: float, limit: int) -> list[Purchase]:
        return self._all("list_unfinished_purchases", {"older_than_seconds": older_than_seconds, "limit": limit})
