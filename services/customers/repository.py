"""The customers service's SQL, one method per named query in queries.sql."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..runtime.db import Database, UniqueViolation
from ..runtime.queries import load_queries
from ..runtime.store import Repository, Store
from .errors import AlreadySignedUp, EmailTaken
from .model import Customer, CustomerState, NewCustomer

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
# Every query may name any state: %(active)s is CustomerState.ACTIVE.
STATES = {state.name.lower(): state for state in CustomerState}


class CustomerRepository(Repository):
    async def _one(self, name: str, params: dict) -> Customer | None:
        return await self._connection.one_record(Customer, QUERIES[name], {**STATES, **params})

    async def create_customer(
        self, customer: NewCustomer, request_id: str | None, subject: str | None
    ) -> Customer | None:
        """The new customer, or None when request_id was already used.

        Raises EmailTaken when the email belongs to another customer, AlreadySignedUp when the
        subject is bound to one already.
        """
        try:
            return await self._one(
                "create_customer", {**asdict(customer), "request_id": request_id, "subject": subject}
            )
        except UniqueViolation as violation:
            # PostgreSQL names the first unique index the row breaks, and the email's comes first:
            # a subject signing up again with its own email has signed up already, not lost a race.
            if violation.constraint == "customers_subject_key" or (
                subject is not None and await self.subject_signed_up(subject)
            ):
                raise AlreadySignedUp() from None
            raise EmailTaken(customer.email) from None

    async def subject_signed_up(self, subject: str) -> bool:
        """Whether a customer is bound to `subject` already."""
        return await self._connection.one(QUERIES["subject_signed_up"], {"subject": subject}) is not None

    async def get_customer_by_request_id(self, request_id: str, subject: str | None) -> Customer | None:
        """The customer signed up under request_id by `subject` (None: registered by the staff)."""
        return await self._one("get_customer_by_request_id", {"request_id": request_id, "subject": subject})

    async def get_customer(self, customer_id: str) -> Customer | None:
        return await self._one("get_customer", {"id": customer_id})

    async def get_customers(self, customer_ids: list[str]) -> list[Customer]:
        """Those of the customers that exist, in no particular order."""
        return await self._connection.all_records(Customer, QUERIES["get_customers"], {"ids": customer_ids})

    async def list_customers(self, show_deactivated: bool, after_id: str | None, limit: int) -> list[Customer]:
        return await self._connection.all_records(
            Customer,
            QUERIES["list_customers"],
            {**STATES, "show_deactivated": show_deactivated, "after_id": after_id, "limit": limit},
        )

    async def deactivate_customer(self, customer_id: str) -> Customer | None:
        """The customer just deactivated; None when it is unknown or was already deactivated."""
        return await self._one("deactivate_customer", {"id": customer_id})


def store(database: Database) -> Store[CustomerRepository]:
    """The one way the service (and its tests) reach its tables."""
    return Store(database, CustomerRepository)
