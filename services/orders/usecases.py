"""Purchases: create, settle against the catalog's stock, cancel, and recover unfinished ones.

A purchase moves  pending -> confirmed | rejected,  confirmed -> cancelling -> cancelled.
The pending row is written before ReserveStock is called, and the reservation is keyed by the
purchase id, so every step can be repeated: a client retry (same request_id), a repeated cancel
or the recovery loop picks up from the state the row records.
"""

from __future__ import annotations

import logging
import uuid

from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2

from ..runtime.db import Database
from ..runtime.deadlines import Deadline
from ..runtime.errors import AlreadyExists, FailedPrecondition, NotFound, ServiceError
from ..runtime.money import to_cents
from ..runtime.pagination import TIMESTAMP, UUID, cut_page, decode_token
from .clients import CatalogClient, CustomersClient
from .faults import crash_point
from .model import Purchase, PurchaseFilter, PurchaseOrder
from .repository import PurchaseRepository

log = logging.getLogger(__name__)


class Purchases:
    def __init__(self, db: Database, customers: CustomersClient, catalog: CatalogClient):
        self._db = db
        self._customers = customers
        self._catalog = catalog

    # -- reads -------------------------------------------------------------------------------

    async def get_purchase(self, purchase_id: str) -> Purchase:
        async with self._db.session() as session:
            purchase = await PurchaseRepository(session).get_purchase(purchase_id)
        if purchase is None:
            raise NotFound("purchase", purchase_id)
        return purchase

    async def list_purchases(self, where: PurchaseFilter, page_size: int, page_token: str) -> tuple[list[Purchase], str]:
        filters = vars(where)
        after = decode_token(page_token, filters, [TIMESTAMP, UUID])
        async with self._db.session() as session:
            found = await PurchaseRepository(session).list_purchases(
                where, tuple(after) if after else None, page_size + 1)
        return cut_page(found, page_size, filters, lambda p: [p.create_time.isoformat(), p.id])

    async def _by_request_id(self, request_id: str) -> Purchase | None:
        async with self._db.session() as session:
            return await PurchaseRepository(session).get_purchase_by_request_id(request_id)

    # -- create ------------------------------------------------------------------------------

    async def create_purchase(self, order: PurchaseOrder, request_id: str | None, deadline: Deadline) -> Purchase:
        request_id = request_id or str(uuid.uuid4())
        customer = await self._customers.get_customer(order.customer_id, deadline.remaining())
        if customer.state != customers_pb2.Customer.ACTIVE:
            # A retry of a purchase made before the deactivation still gets its first answer.
            earlier = await self._by_request_id(request_id)
            if earlier is None or not earlier.is_for(order):
                raise FailedPrecondition(f"customer {order.customer_id!r} is deactivated", "CUSTOMER_DEACTIVATED")
            return await self._advance(earlier, deadline)
        async with self._db.session() as session:
            repo = PurchaseRepository(session)
            purchase = (await repo.insert_pending_purchase(order, request_id)
                        or await repo.get_purchase_by_request_id(request_id))
        if not purchase.is_for(order):
            raise AlreadyExists(f"request_id {request_id!r} was used for another purchase ({purchase.id})",
                                "REQUEST_ID_REUSED")
        return await self._advance(purchase, deadline)

    async def _settle(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Reserves stock for a pending purchase (once, whoever calls) and records the outcome."""
        try:
            reservation = await self._catalog.reserve_stock(purchase.id, purchase.disc_id, purchase.quantity,
                                                            deadline.remaining())
        except NotFound:
            async with self._db.session() as session:
                await PurchaseRepository(session).delete_pending_purchase(purchase.id)
            raise
        crash_point("after_reserve")
        if reservation.state not in (catalog_pb2.Reservation.GRANTED, catalog_pb2.Reservation.REJECTED):
            raise ServiceError(f"reservation {purchase.id} of a pending purchase is "
                               f"{catalog_pb2.Reservation.State.Name(reservation.state)}", "RESERVATION_STATE")
        granted = reservation.state == catalog_pb2.Reservation.GRANTED
        unit_price_cents, currency = to_cents("unit_price", reservation.unit_price)
        async with self._db.session() as session:
            repo = PurchaseRepository(session)
            settled = (await repo.settle_purchase(purchase.id, granted, unit_price_cents, currency)
                       or await repo.get_purchase(purchase.id))
        crash_point("after_settle")
        return settled

    # -- cancel ------------------------------------------------------------------------------

    async def cancel_purchase(self, purchase_id: str, deadline: Deadline) -> Purchase:
        purchase = await self._advance(await self.get_purchase(purchase_id), deadline)
        if purchase.state == "rejected":
            raise FailedPrecondition(
                f"purchase {purchase_id!r} was not effective (not enough stock): there is nothing to cancel",
                "PURCHASE_NOT_EFFECTIVE")
        if purchase.state == "confirmed":
            async with self._db.session() as session:
                repo = PurchaseRepository(session)
                purchase = await repo.start_cancellation(purchase_id) or await repo.get_purchase(purchase_id)
            crash_point("during_cancel")
        return await self._advance(purchase, deadline)

    async def _finish_cancellation(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Gives a cancelling purchase's units back (ReleaseStock is idempotent) and records it."""
        await self._catalog.release_stock(purchase.id, deadline.remaining())
        async with self._db.session() as session:
            repo = PurchaseRepository(session)
            return await repo.finish_cancellation(purchase.id) or await repo.get_purchase(purchase.id)

    # -- the state machine -------------------------------------------------------------------

    async def _advance(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Finishes whatever step the purchase is in the middle of; a settled purchase is returned."""
        if purchase.state == "pending":
            return await self._settle(purchase, deadline)
        if purchase.state == "cancelling":
            return await self._finish_cancellation(purchase, deadline)
        return purchase

    async def recover(self, older_than_seconds: float, call_timeout: float, limit: int = 100) -> int:
        """Advances purchases left unfinished (by a crash or a failed downstream call).

        Returns how many it finished; those it cannot finish now stay for the next round.
        """
        async with self._db.session() as session:
            unfinished = await PurchaseRepository(session).list_unfinished_purchases(older_than_seconds, limit)
        finished = 0
        for purchase in unfinished:
            try:
                await self._advance(purchase, Deadline(call_timeout))
                finished += 1
            except NotFound:
                finished += 1  # the disc does not exist: the pending purchase was dropped
            except ServiceError as error:
                log.warning("recovery of purchase %s (%s) postponed: %s", purchase.id, purchase.state, error.message)
        if finished:
            log.info("recovery finished %d purchase(s)", finished)
        return finished
