"""What the customers service does, independent of gRPC: the Customers' methods, on the store it
is given."""

from __future__ import annotations

from ..runtime.auth import Caller
from ..runtime.errors import NotFound
from ..runtime.idempotency import RequestIdReused
from ..runtime.pagination import UUID, cut_page, decode_token
from ..runtime.store import Store, present
from . import access
from .model import Customer, NewCustomer
from .repository import CustomerRepository


class Customers:
    def __init__(self, store: Store[CustomerRepository]):
        self._store = store

    async def create_customer(self, customer: NewCustomer, request_id: str | None, caller: Caller) -> Customer:
        subject = caller.own_subject  # a shopper signs up as itself; the staff registers a customer bound to no one
        async with self._store.autocommit() as repo:
            created = await repo.create_customer(customer, request_id, subject)
            if created is None and request_id is not None:  # seen before: AIP-155 says answer with the first result
                # The id is the signer's own (migration 0003): another's use of it is no conflict.
                created = present(
                    await repo.get_customer_by_request_id(request_id, subject), f"customer of request {request_id!r}"
                )
                if not created.is_for(customer):  # the first result of this request, not of another under its id
                    raise RequestIdReused(request_id, "another customer")
            return present(created, "new customer")

    async def get_customer(self, customer_id: str, caller: Caller) -> Customer:
        async with self._store.autocommit() as repo:
            customer = await repo.get_customer(customer_id)
        if customer is None or not access.may_see(caller, customer):
            raise NotFound("customer", customer_id)
        return customer

    async def get_customers(self, lookups: list[tuple[str, Caller]]) -> list[Customer | NotFound]:
        """get_customer for each (customer id, caller) of `lookups`, in one statement."""
        async with self._store.autocommit() as repo:
            found = {c.id: c for c in await repo.get_customers([customer_id for customer_id, _ in lookups])}
        answers: list[Customer | NotFound] = []
        for customer_id, caller in lookups:
            customer = found.get(customer_id)
            if customer is None or not access.may_see(caller, customer):
                answers.append(NotFound("customer", customer_id))
            else:
                answers.append(customer)
        return answers

    async def list_customers(
        self, show_deactivated: bool, page_size: int, page_token: str
    ) -> tuple[list[Customer], str]:
        filters = {"show_deactivated": show_deactivated}
        after = decode_token(page_token, filters, [UUID])
        async with self._store.autocommit() as repo:
            customers = await repo.list_customers(show_deactivated, after[0] if after else None, page_size + 1)
        return cut_page(customers, page_size, filters, lambda customer: [customer.id])

    async def deactivate_customer(self, customer_id: str, caller: Caller) -> Customer:
        """Deactivates once; a repeated call returns the customer as the first call left it."""
        await self.get_customer(customer_id, caller)  # another's record is NOT_FOUND, and stays untouched
        async with self._store.autocommit() as repo:
            customer = await repo.deactivate_customer(customer_id) or await repo.get_customer(customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        return customer
