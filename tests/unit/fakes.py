"""Fakes of what the purchase use cases depend on: a store whose repository keeps purchases in a
dict (with the named queries' conditions: a step applies only from the state it expects), and
peers that keep stock and reservations as the catalog does. Failures are injected per operation.

No PostgreSQL, no gRPC: the state machine of services/orders/usecases.py runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import defaultdict
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from services.orders.errors import PeerRefused, RecordRefused
from services.orders.model import (UNFINISHED, Buyer, PendingPurchase, Purchase, PurchaseFilter,
                                   PurchaseState, Reservation, ReservationOutcome, Settlement)
from services.runtime.errors import DeadlineExceeded, NotFound

BIGINT_MAX = 2**63 - 1


class Failures:
    """Errors to raise, in turn, the next times an operation is called (then it works again)."""

    def __init__(self):
        self._queued: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)

    def queue(self, operation: str, *errors: BaseException) -> None:
        self._queued[operation].extend(errors)

    def check(self, operation: str) -> None:
        self.calls[operation] += 1
        if self._queued[operation]:
            raise self._queued[operation].pop(0)


class FakePurchaseRepository:
    """PurchaseRepository's methods over a dict. Each write applies only from the state its query's
    WHERE names, and returns None otherwise, as the UPDATE ... RETURNING does."""

    def __init__(self, rows: dict[str, Purchase], failures: Failures):
        self._rows = rows
        self._failures = failures

    def _change(self, purchase_id: str, expected: frozenset | set, **changes) -> Purchase | None:
        row = self._rows.get(purchase_id)
        if row is None or row.state not in expected:
            return None
        self._rows[purchase_id] = dataclasses.replace(row, update_time=datetime.now(UTC), **changes)
        return self._rows[purchase_id]

    async def commit(self) -> None:
        pass

    def _taken(self, one: PendingPurchase) -> bool:
        """The unique (customer_id, recorded_by, request_id) of migration 0006."""
        key = (one.order.customer_id, one.recorded_by, one.request_id)
        return any((p.customer_id, p.recorded_by, p.request_id) == key for p in self._rows.values())

    async def insert_pending_purchase(self, pending: PendingPurchase) -> Purchase | None:
        self._failures.check("insert_pending_purchase")
        return None if self._taken(pending) else await self._insert(pending)

    async def _insert(self, pending: PendingPurchase) -> Purchase:
        now, order = datetime.now(UTC), pending.order
        purchase = Purchase(id=str(uuid.uuid4()), request_id=pending.request_id, customer_id=order.customer_id,
                            disc_id=order.disc_id, quantity=order.quantity, state=PurchaseState.PENDING,
                            effective=False, unit_price_cents=None, total_cents=None, currency=None,
                            create_time=now, update_time=now, cancel_time=None, failure_reason=None, attempts=0,
                            customer_subject=pending.customer_subject, recorded_by=pending.recorded_by)
        self._rows[purchase.id] = purchase
        return purchase

    async def insert_pending_purchases(self, asked: list[PendingPurchase]) -> list[Purchase]:
        """One statement: the new ones, and those whose request id was used are left out. Fails as
        a whole (a failure queued for insert_pending_purchase)."""
        self._failures.check("insert_pending_purchase")
        made = []
        for one in asked:
            if not self._taken(one):
                made.append(await self._insert(one))
        return made

    async def get_purchase_by_request_id(self, customer_id: str, recorded_by: str | None,
                                         request_id: str) -> Purchase | None:
        key = (customer_id, recorded_by, request_id)
        return next((p for p in self._rows.values() if (p.customer_id, p.recorded_by, p.request_id) == key), None)

    async def get_purchase(self, purchase_id: str) -> Purchase | None:
        return self._rows.get(purchase_id)

    async def settle_purchase(self, purchase_id: str, granted: bool, unit_price_cents: int,
                              currency: str) -> Purchase | None:
        self._failures.check("settle_purchase")
        row = self._rows.get(purchase_id)
        if row is not None and row.state == PurchaseState.PENDING and unit_price_cents * row.quantity > BIGINT_MAX:
            raise RecordRefused("bigint out of range")  # what the repository makes of SQLSTATE 22003
        return self._change(purchase_id, {PurchaseState.PENDING},
                            state=PurchaseState.CONFIRMED if granted else PurchaseState.REJECTED, effective=granted,
                            unit_price_cents=unit_price_cents, currency=currency,
                            total_cents=None if row is None else unit_price_cents * row.quantity)

    async def settle_purchases(self, outcomes: list[Settlement]) -> list[Purchase]:
        """One statement: all of them or, when the database refuses one (a total beyond bigint),
        none."""
        self._failures.check("settle_purchase")
        self._failures.calls[f"settle_purchases of {len(outcomes)}"] += 1
        for outcome in outcomes:
            row = self._rows.get(outcome.purchase_id)
            if row is not None and row.state == PurchaseState.PENDING \
                    and outcome.unit_price_cents * row.quantity > BIGINT_MAX:
                raise RecordRefused("bigint out of range")
        settled = []
        for outcome in outcomes:
            row = self._rows.get(outcome.purchase_id)
            changed = self._change(outcome.purchase_id, {PurchaseState.PENDING},
                                   state=PurchaseState.CONFIRMED if outcome.granted else PurchaseState.REJECTED,
                                   effective=outcome.granted, unit_price_cents=outcome.unit_price_cents,
                                   currency=outcome.currency,
                                   total_cents=None if row is None else outcome.unit_price_cents * row.quantity)
            if changed is not None:
                settled.append(changed)
        return settled

    async def start_failure(self, purchase_id: str, reason: str) -> Purchase | None:
        return self._change(purchase_id, {PurchaseState.PENDING}, state=PurchaseState.FAILING, failure_reason=reason,
                            attempts=0)

    async def finish_failure(self, purchase_id: str) -> Purchase | None:
        return self._change(purchase_id, {PurchaseState.FAILING}, state=PurchaseState.FAILED)

    async def record_failed_attempt(self, purchase_id: str) -> Purchase | None:
        row = self._rows.get(purchase_id)
        return self._change(purchase_id, UNFINISHED, attempts=(row.attempts + 1) if row else 0)

    async def delete_pending_purchase(self, purchase_id: str) -> None:
        if purchase_id in self._rows and self._rows[purchase_id].state == PurchaseState.PENDING:
            del self._rows[purchase_id]

    async def start_cancellation(self, purchase_id: str) -> Purchase | None:
        self._failures.check("start_cancellation")
        return self._change(purchase_id, {PurchaseState.CONFIRMED}, state=PurchaseState.CANCELLING, attempts=0)

    async def finish_cancellation(self, purchase_id: str) -> Purchase | None:
        return self._change(purchase_id, {PurchaseState.CANCELLING}, state=PurchaseState.CANCELLED,
                            cancel_time=datetime.now(UTC))

    async def list_purchases(self, where: PurchaseFilter, after, limit: int) -> list[Purchase]:
        found = [p for p in self._rows.values()
                 if where.customer_id in (None, p.customer_id) and where.customer_subject in (None, p.customer_subject)]
        return sorted(found, key=lambda p: (p.create_time, p.id), reverse=True)[:limit]

    async def list_unfinished_purchases(self, older_than_seconds: float, limit: int, max_attempts: int) -> list[Purchase]:
        self._failures.check("list_unfinished_purchases")
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        found = [p for p in self._rows.values() if p.state in UNFINISHED and p.update_time <= cutoff
                 and (p.state == PurchaseState.PENDING or p.attempts < max_attempts)]
        return sorted(found, key=lambda p: p.update_time)[:limit]

    async def lease_purchase(self, purchase_id: str, lease_seconds: float, leased_by: str) -> Purchase | None:
        """One replica in these tests: the lease is always free; a finished purchase is not leased."""
        row = self._rows.get(purchase_id)
        return row if row is not None and row.state in UNFINISHED else None

    async def release_purchase_lease(self, purchase_id: str, leased_by: str) -> None:
        pass


class FakePurchaseStore:
    """runtime.store.Store's shape: the fake repository in autocommit or in a 'transaction'."""

    def __init__(self):
        self.rows: dict[str, Purchase] = {}
        self.failures = Failures()

    @asynccontextmanager
    async def autocommit(self):
        await asyncio.sleep(0)  # a round trip: other purchases run meanwhile, and queue behind it
        yield FakePurchaseRepository(self.rows, self.failures)

    transaction = autocommit

    def only(self) -> Purchase:
        [purchase] = self.rows.values()
        return purchase


class FakeCustomers:
    def __init__(self, **buyers: bool):
        self.buyers = dict(buyers)  # customer id -> active
        self.subjects: dict[str, str] = {}  # customer id -> the subject it is bound to (none: the staff's)
        self.failures = Failures()

    async def get_customer(self, customer_id: str, timeout: float, token: str = "") -> Buyer:
        self.failures.check("get_customer")
        if customer_id not in self.buyers:
            raise NotFound("customer", customer_id)
        return Buyer(customer_id, self.buyers[customer_id], self.subjects.get(customer_id))


@dataclasses.dataclass
class FakeDisc:
    stock: int
    price_cents: int = 5990
    currency: str = "BRL"


class FakeCatalog:
    """Stock and reservations as the catalog keeps them: one outcome per reservation id, units
    taken only when they are there, given back once by a release of a granted reservation."""

    def __init__(self, **discs: FakeDisc):
        self.discs = dict(discs)
        self.reservations: dict[str, tuple[str, int, ReservationOutcome]] = {}
        self.failures = Failures()
        self.lose_answers = 0  # how many next reservations are made but their answer lost (a timeout)

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int, timeout: float) -> Reservation:
        self.failures.check("reserve_stock")
        if disc_id not in self.discs:
            raise NotFound("disc", disc_id)
        disc = self.discs[disc_id]
        if reservation_id in self.reservations:
            first_disc, first_quantity, outcome = self.reservations[reservation_id]
            if (first_disc, first_quantity) != (disc_id, quantity):
                raise PeerRefused("the catalog service refused it (ALREADY_EXISTS)", "CATALOG_REFUSED")
        else:
            outcome = ReservationOutcome.GRANTED if disc.stock >= quantity else ReservationOutcome.REJECTED
            if outcome == ReservationOutcome.GRANTED:
                disc.stock -= quantity
            self.reservations[reservation_id] = (disc_id, quantity, outcome)
        if self.lose_answers:
            self.lose_answers -= 1
            raise DeadlineExceeded("the catalog service did not answer in time", "CATALOG_TIMEOUT")
        return Reservation(outcome, disc.price_cents, disc.currency)

    async def release_stock(self, reservation_id: str, timeout: float) -> None:
        self.failures.check("release_stock")
        if reservation_id not in self.reservations:
            raise NotFound("reservation", reservation_id)
        disc_id, quantity, outcome = self.reservations[reservation_id]
        if outcome == ReservationOutcome.GRANTED:
            self.discs[disc_id].stock += quantity
            self.reservations[reservation_id] = (disc_id, quantity, ReservationOutcome.RELEASED)
