"""Purchases: create, settle against the catalog's stock, cancel; and `advance`, which finishes
the step an unfinished purchase is in (the recovery loop, recovery.py, calls it).

A purchase moves  pending -> confirmed | rejected,  confirmed -> cancelling -> cancelled,  and
pending -> failing -> failed  when it can never settle (see fail). The pending row is written
before ReserveStock is called, and the reservation is keyed by the purchase id, so every step can
be repeated: a client retry (same request_id), a repeated cancel or the recovery loop picks up
from the state the row records.

Once the row may exist, the rest runs in a task of its own (see _to_completion): a caller that
goes away, or whose deadline passes, does not stop it halfway with stock held. Recovery is for
crashes, not for impatient clients.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Protocol

from ..runtime.auth import Caller
from ..runtime.batching import Batcher, together_or_alone
from ..runtime.deadlines import Deadline
from ..runtime.errors import FailedPrecondition, NotFound
from ..runtime.idempotency import RequestIdReused
from ..runtime.pagination import TIMESTAMP, UUID, cut_page, decode_token
from ..runtime.store import Store, present
from . import access
from .errors import MalformedAnswer, PeerRefused, RecordRefused
from .faults import crash_point
from .model import (
    Buyer,
    PendingPurchase,
    Purchase,
    PurchaseFilter,
    PurchaseOrder,
    PurchaseState,
    Reservation,
    ReservationOutcome,
    Settlement,
)
from .repository import PurchaseRepository

log = logging.getLogger(__name__)
# Purchases recorded, or settled, in one statement at most (runtime/batching.py).
MAX_BATCH = 64


def _retrieve(task: asyncio.Task) -> None:
    """Marks the outcome of a task whose caller left as seen (its failures are logged where they
    happen), so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()


class CustomersPeer(Protocol):
    """What the purchases need of the customers service (clients.CustomersClient; a fake in unit tests)."""

    async def get_customer(self, customer_id: str, timeout: float, token: str) -> Buyer: ...


class CatalogPeer(Protocol):
    """What the purchases need of the catalog (clients.CatalogClient; a fake in unit tests)."""

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int, timeout: float) -> Reservation: ...

    async def release_stock(self, reservation_id: str, timeout: float) -> None: ...


class Purchases:
    def __init__(self, store: Store[PurchaseRepository], customers: CustomersPeer, catalog: CatalogPeer, budget: float):
        self.store = store
        self._customers = customers
        self._catalog = catalog
        self.budget = budget  # REQUEST_BUDGET_SECONDS: the deadline of work whose caller left
        self._in_flight: set[asyncio.Task] = set()
        self._pending = Batcher("insert_pending_purchase", self._record_pending, MAX_BATCH)
        self._settlements = Batcher("settle_purchase", self._record_settlements, MAX_BATCH)

    # -- reads -------------------------------------------------------------------------------

    async def get_purchase(self, purchase_id: str, caller: Caller) -> Purchase:
        """The purchase, when the caller may see it; NOT_FOUND alike when it does not exist and
        when it is another customer's."""
        async with self.store.autocommit() as repo:
            purchase = await repo.get_purchase(purchase_id)
        if purchase is None or not access.may_see(caller, purchase):
            raise NotFound("purchase", purchase_id)
        return purchase

    async def list_purchases(
        self, where: PurchaseFilter, page_size: int, page_token: str
    ) -> tuple[list[Purchase], str]:
        filters = vars(where)
        after = decode_token(page_token, filters, [TIMESTAMP, UUID])
        async with self.store.autocommit() as repo:
            found = await repo.list_purchases(where, tuple(after) if after else None, page_size + 1)
        return cut_page(found, page_size, filters, lambda p: [p.create_time.isoformat(), p.id])

    async def _by_request_id(self, customer_id: str, recorded_by: str | None, request_id: str) -> Purchase | None:
        async with self.store.autocommit() as repo:
            return await repo.get_purchase_by_request_id(customer_id, recorded_by, request_id)

    # -- create ------------------------------------------------------------------------------

    async def create_purchase(
        self, order: PurchaseOrder, request_id: str | None, deadline: Deadline, caller: Caller
    ) -> Purchase:
        request_id = request_id or str(uuid.uuid4())
        # With the caller's own token: the customers service answers NOT_FOUND for a customer that
        # is not a shopper's own, and any customer to the staff (see access.py).
        buyer = await self._customers.get_customer(order.customer_id, deadline.remaining(), caller.token or "")
        pending = PendingPurchase(order, request_id, access.owner_subject(caller, buyer), caller.subject)
        return await self._to_completion(self._record_and_settle(pending, buyer.active))

    async def _record_and_settle(self, pending: PendingPurchase, active: bool) -> Purchase:
        deadline = Deadline(self.budget)
        order = pending.order
        if not active:
            # A retry of a purchase made before the deactivation still gets its first answer.
            earlier = await self._by_request_id(order.customer_id, pending.recorded_by, pending.request_id)
            if earlier is None or not earlier.is_for(order):
                raise FailedPrecondition(f"customer {order.customer_id!r} is deactivated", "CUSTOMER_DEACTIVATED")
            return await self.advance(earlier, deadline)
        purchase = await self._pending.submit(pending)
        if not purchase.is_for(order):
            # Not which purchase: the message says only that this buyer used the id before.
            raise RequestIdReused(pending.request_id, "another purchase")
        return await self.advance(purchase, deadline)

    # -- the batched writes -------------------------------------------------------------------
    # Purchases recorded or settled while an earlier statement of the same kind is running go
    # together as one statement and one commit (runtime/batching.py); one alone goes at once.
    # What a batch statement leaves out (a request id used before, a purchase no longer pending)
    # is read one by one, and a batch the database refuses is written one by one, so that each
    # purchase gets the answer it would have got alone.

    async def _record_pending(self, asked: list[PendingPurchase]) -> list[Purchase | BaseException]:
        async def alone(repo: PurchaseRepository, one: PendingPurchase) -> Purchase:
            return present(
                await repo.insert_pending_purchase(one)
                or await repo.get_purchase_by_request_id(one.order.customer_id, one.recorded_by, one.request_id),
                f"purchase of request {one.request_id!r}",
            )

        return await together_or_alone(
            self.store,
            asked,
            lambda repo: repo.insert_pending_purchases(asked),
            lambda made: (made.customer_id, made.recorded_by, made.request_id),
            lambda one: (one.order.customer_id, one.recorded_by, one.request_id),
            alone,
            RecordRefused,
        )

    async def _record_settlements(self, outcomes: list[Settlement]) -> list[Purchase | BaseException]:
        async def alone(repo: PurchaseRepository, outcome: Settlement) -> Purchase:
            return present(
                await repo.settle_purchase(
                    outcome.purchase_id, outcome.granted, outcome.unit_price_cents, outcome.currency
                )
                or await repo.get_purchase(outcome.purchase_id),
                f"purchase {outcome.purchase_id!r}",
            )

        return await together_or_alone(
            self.store,
            outcomes,
            lambda repo: repo.settle_purchases(outcomes),
            lambda settled: settled.id,
            lambda outcome: outcome.purchase_id,
            alone,
            RecordRefused,
        )

    # -- finishing what was started ----------------------------------------------------------

    async def _to_completion(self, work: Coroutine) -> Purchase:
        """Runs `work` in a task the caller's cancellation does not reach, and awaits it.

        grpc.aio cancels a handler at its next await when its client disconnects or its deadline
        passes; without this, a purchase would stop between ReserveStock and its settlement with
        the stock held until the recovery loop came by. `work` sets its own deadline from the
        server's budget. Shutdown waits for these tasks (see drain).
        """
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def drain(self, timeout: float) -> int:
        """Waits up to `timeout` seconds for the purchases and cancellations in progress; returns
        how many are still unfinished (the recovery loop of the next start finishes those)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
        return len(self._in_flight)

    async def _settle(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Reserves stock for a pending purchase (once, whoever calls) and records the outcome."""
        try:
            reservation = await self._catalog.reserve_stock(
                purchase.id, purchase.disc_id, purchase.quantity, deadline.remaining()
            )
        except NotFound:
            async with self.store.autocommit() as repo:
                await repo.delete_pending_purchase(purchase.id)
            raise
        except (PeerRefused, MalformedAnswer) as refusal:
            return await self.fail(purchase, refusal.message, deadline)
        crash_point("after_reserve")
        if reservation.outcome == ReservationOutcome.RELEASED:
            return await self.fail(purchase, "its reservation is already RELEASED", deadline)
        granted = reservation.outcome == ReservationOutcome.GRANTED
        try:
            settled = await self._settlements.submit(
                Settlement(purchase.id, granted, reservation.unit_price_cents, reservation.currency)
            )
        except RecordRefused as refused:
            return await self.fail(purchase, f"its outcome cannot be recorded: {refused.message}", deadline)
        crash_point("after_settle")
        return settled

    # -- fail --------------------------------------------------------------------------------

    async def fail(self, purchase: Purchase, reason: str, deadline: Deadline) -> Purchase:
        """Ends a pending purchase that can never settle: failing (no settlement can confirm it
        any more), then its reservation released, then failed. Never effective."""
        log.error("purchase %s cannot settle, failing it: %s", purchase.id, reason)
        async with self.store.autocommit() as repo:
            failing = present(
                await repo.start_failure(purchase.id, reason) or await repo.get_purchase(purchase.id),
                f"purchase {purchase.id!r}",
            )
        return await self.advance(failing, deadline)

    async def _finish_failure(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Gives back whatever a failing purchase's reservation holds (ReleaseStock is idempotent
        and gives units back only for a granted reservation) and records the failure."""
        try:
            await self._catalog.release_stock(purchase.id, deadline.remaining())
        except NotFound:
            pass  # nothing was ever reserved under this id
        async with self.store.autocommit() as repo:
            return present(
                await repo.finish_failure(purchase.id) or await repo.get_purchase(purchase.id),
                f"purchase {purchase.id!r}",
            )

    # -- cancel ------------------------------------------------------------------------------

    async def cancel_purchase(self, purchase_id: str, caller: Caller) -> Purchase:
        return await self._to_completion(self._cancel(purchase_id, caller))

    async def _cancel(self, purchase_id: str, caller: Caller) -> Purchase:
        deadline = Deadline(self.budget)
        purchase = await self.advance(await self.get_purchase(purchase_id, caller), deadline)
        if purchase.state in (PurchaseState.REJECTED, PurchaseState.FAILED):
            why = (
                "not enough stock" if purchase.state == PurchaseState.REJECTED else f"failed: {purchase.failure_reason}"
            )
            raise FailedPrecondition(
                f"purchase {purchase_id!r} was not effective ({why}): there is nothing to cancel",
                "PURCHASE_NOT_EFFECTIVE",
            )
        if purchase.state == PurchaseState.CONFIRMED:
            async with self.store.autocommit() as repo:
                purchase = present(
                    await repo.start_cancellation(purchase_id) or await repo.get_purchase(purchase_id),
                    f"purchase {purchase_id!r}",
                )
            crash_point("during_cancel")
        return await self.advance(purchase, deadline)

    async def _finish_cancellation(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Gives a cancelling purchase's units back (ReleaseStock is idempotent) and records it."""
        await self._catalog.release_stock(purchase.id, deadline.remaining())
        async with self.store.autocommit() as repo:
            return present(
                await repo.finish_cancellation(purchase.id) or await repo.get_purchase(purchase.id),
                f"purchase {purchase.id!r}",
            )

    # -- the state machine -------------------------------------------------------------------

    async def advance(self, purchase: Purchase, deadline: Deadline) -> Purchase:
        """Finishes whatever step the purchase is in the middle of; a settled purchase is returned."""
        if purchase.state == PurchaseState.PENDING:
            return await self._settle(purchase, deadline)
        if purchase.state == PurchaseState.CANCELLING:
            return await self._finish_cancellation(purchase, deadline)
        if purchase.state == PurchaseState.FAILING:
            return await self._finish_failure(purchase, deadline)
        return purchase
