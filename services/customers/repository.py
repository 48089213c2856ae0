"""The customers service's SQL, one method per named query in queries.sql."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..runtime.queries import load_queries
from .model import Customer, NewCustomer, from_row

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))


class CustomerRepository:
    def __init__(self, cursor):
        self._cursor = cursor

    def _one(self, name: str, params: dict) -> Customer | None:
        self._cursor.execute(QUERIES[name], params)
        row = self._cursor.fetchone()
        return from_row(row) if row else None

    def create_customer(self, customer: NewCustomer, request_id: str | None) -> Customer | None:
        """The new customer, or None when request_id was already used.

        Raises psycopg2.errors.UniqueViolation when the email belongs to another customer.
        """
        return self._one("create_customer", {**asdict(customer), "request_id": request_id})

    def get_customer_by_request_id(self, request_id: str) -> Customer | None:
        return self._one("get_customer_by_request_id", {"request_id": request_id})

    def get_customer(self, customer_id: str) -> Customer | None:
        return self._one("get_customer", {"id": customer_id})

    def list_customers(self, show_deactivated: bool, after_id: str | None, limit: int) -> list[Customer]:
        self._cursor.execute(QUERIES["list_customers"],
                             {"show_deactivated": show_deactivated, "after_id": after_id, "limit": limit})
        return [from_row(row) for row in self._cursor.fetchall()]

    def deactivate_customer(self, customer_id: str) -> Customer | None:
        """The customer just deactivated; None when it is unknown or was already deactivated."""
        return self._one("deactivate_customer", {"id": customer_id})
