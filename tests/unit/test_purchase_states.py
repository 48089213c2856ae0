"""The purchase state machine (services/orders/usecases.py) against fakes: every transition, a
retry, and a failure of a peer or the database at each step. No PostgreSQL, no gRPC.

pending -> confirmed | rejected;  confirmed -> cancelling -> cancelled;  pending -> failing -> failed.
"""

import asyncio
import time
import uuid

import pytest

from services.orders.errors import PeerRefused
from services.orders.model import PurchaseOrder, PurchaseState
from services.orders.recovery import MAX_ATTEMPTS, recover
from services.orders.usecases import Purchases
from services.runtime.auth import CUSTOMER, STAFF, Caller
from services.runtime.db import ConnectionLost
from services.runtime.deadlines import Deadline
from services.runtime.errors import (AlreadyExists, DeadlineExceeded, FailedPrecondition, NotFound, ServiceError,
                                     Unavailable)
from tests.unit.fakes import BIGINT_MAX, FakeCatalog, FakeCustomers, FakeDisc, FakePurchaseStore

ANA = Caller(subject="ana", roles=frozenset({CUSTOMER}), token="ana-token")
CLERK = Caller(subject="clerk", roles=frozenset({STAFF}), token="clerk-token")
DOWN = Unavailable("the catalog service is unavailable, retry later", "CATALOG_UNAVAILABLE")


class World:
    """The use cases wired to fakes: customer 'ana' (active, bound to subject 'ana'), 'old'
    (deactivated), 'walkin' (active, registered by the staff: bound to no one); disc 'd' with 3 units."""

    def __init__(self, stock: int = 3, price_cents: int = 5990):
        self.store = FakePurchaseStore()
        self.customers = FakeCustomers(ana=True, old=False, walkin=True)
        self.customers.subjects["ana"] = "ana"
        self.catalog = FakeCatalog(d=FakeDisc(stock, price_cents))
        self.purchases = Purchases(self.store, self.customers, self.catalog, budget=5.0)

    def buy(self, quantity: int = 1, request_id: str | None = None, customer: str = "ana", disc: str = "d",
            caller: Caller = ANA):
        order = PurchaseOrder(customer, disc, quantity)
        return self.purchases.create_purchase(order, request_id, Deadline(5), caller)

    @property
    def stock(self) -> int:
        return self.catalog.discs["d"].stock


def run(scenario):
    """Runs an async scenario and checks it took milliseconds, as fakes should."""
    started = time.perf_counter()
    result = asyncio.run(scenario())
    assert time.perf_counter() - started < 1.0
    return result


def test_pending_becomes_confirmed_when_the_stock_is_there():
    world = World(stock=3)

    async def scenario():
        return await world.buy(2)

    bought = run(scenario)
    assert (bought.state, bought.effective, bought.total_cents, bought.currency) == (
        PurchaseState.CONFIRMED, True, 2 * 5990, "BRL")
    assert world.stock == 1


def test_pending_becomes_rejected_not_effective_and_the_stock_stays():
    world = World(stock=1)

    async def scenario():
        return await world.buy(2)

    rejected = run(scenario)
    assert (rejected.state, rejected.effective) == (PurchaseState.REJECTED, False)
    assert world.stock == 1


def test_a_retry_with_the_same_request_id_gets_the_one_purchase():
    world = World(stock=3)
    request_id = str(uuid.uuid4())

    async def scenario():
        return await world.buy(1, request_id), await world.buy(1, request_id)

    first, again = run(scenario)
    assert first == again and world.stock == 2 and len(world.store.rows) == 1


def test_a_request_id_used_for_another_order_is_refused():
    world = World()
    request_id = str(uuid.uuid4())

    async def scenario():
        await world.buy(1, request_id)
        with pytest.raises(AlreadyExists):
            await world.buy(2, request_id)

    run(scenario)
    assert world.stock == 2


def test_a_sale_at_the_counter_is_the_customers_and_says_who_recorded_it():
    world = World(stock=3)

    async def scenario():
        return await world.buy(2, caller=CLERK), await world.buy(1)

    at_the_counter, own = run(scenario)
    assert (at_the_counter.customer_subject, at_the_counter.recorded_by) == ("ana", "clerk")
    assert (own.customer_subject, own.recorded_by) == ("ana", "ana")
    assert at_the_counter.state == PurchaseState.CONFIRMED and world.stock == 0


def test_a_sale_at_the_counter_for_a_customer_bound_to_no_one_is_the_staffs_to_see():
    world = World()

    async def scenario():
        return await world.buy(customer="walkin", caller=CLERK)

    bought = run(scenario)
    assert (bought.customer_subject, bought.recorded_by) == (None, "clerk")


def test_a_request_id_is_its_customers_and_its_recorders():
    world = World(stock=3)
    request_id = str(uuid.uuid4())

    async def scenario():
        by_ana = await world.buy(1, request_id)
        by_clerk = await world.buy(2, request_id, caller=CLERK)  # another order under the same id: no conflict
        return by_ana, by_clerk, await world.buy(2, request_id, caller=CLERK), await world.buy(1, request_id)

    by_ana, by_clerk, clerk_again, ana_again = run(scenario)
    assert by_ana.id != by_clerk.id and (clerk_again, ana_again) == (by_clerk, by_ana)
    assert len(world.store.rows) == 2 and world.stock == 0


def test_a_deactivated_customer_buys_nothing():
    world = World()

    async def scenario():
        with pytest.raises(FailedPrecondition):
            await world.buy(customer="old")

    run(scenario)
    assert world.store.rows == {} and world.stock == 3


def test_confirmed_goes_through_cancelling_to_cancelled_and_the_units_come_back_once():
    world = World(stock=3)

    async def scenario():
        bought = await world.buy(2)
        cancelled = await world.purchases.cancel_purchase(bought.id, ANA)
        again = await world.purchases.cancel_purchase(bought.id, ANA)
        return cancelled, again

    cancelled, again = run(scenario)
    assert cancelled.state == PurchaseState.CANCELLED and cancelled.cancel_time is not None
    assert again == cancelled and world.stock == 3


def test_cancelling_a_rejected_purchase_is_refused():
    world = World(stock=0)

    async def scenario():
        rejected = await world.buy(1)
        with pytest.raises(FailedPrecondition) as caught:
            await world.purchases.cancel_purchase(rejected.id, ANA)
        return caught.value

    assert run(scenario).reason == "PURCHASE_NOT_EFFECTIVE"


# -- a failure at each step ------------------------------------------------------------------------

def test_customers_down_records_nothing():
    world = World()
    world.customers.failures.queue("get_customer", Unavailable("down", "CUSTOMERS_UNAVAILABLE"))

    async def scenario():
        with pytest.raises(Unavailable):
            await world.buy()

    run(scenario)
    assert world.store.rows == {} and world.stock == 3


def test_the_database_down_before_the_pending_row_records_nothing():
    world = World()
    world.store.failures.queue("insert_pending_purchase", ConnectionLost("server closed the connection"))

    async def scenario():
        with pytest.raises(ConnectionLost):
            await world.buy()

    run(scenario)
    assert world.store.rows == {} and world.stock == 3


def test_catalog_down_at_the_reservation_leaves_it_pending_and_a_retry_finishes_it():
    world = World()
    world.catalog.failures.queue("reserve_stock", DOWN)
    request_id = str(uuid.uuid4())

    async def scenario():
        with pytest.raises(Unavailable):
            await world.buy(1, request_id)
        pending = world.store.only()
        return pending, await world.buy(1, request_id)

    pending, done = run(scenario)
    assert pending.state == PurchaseState.PENDING and done.id == pending.id
    assert done.state == PurchaseState.CONFIRMED and world.stock == 2


def test_a_reservation_whose_answer_was_lost_is_not_taken_twice():
    world = World()
    world.catalog.lose_answers = 1  # the units are taken, the answer never arrives
    request_id = str(uuid.uuid4())

    async def scenario():
        with pytest.raises(DeadlineExceeded):
            await world.buy(1, request_id)
        return await world.buy(1, request_id)

    done = run(scenario)
    assert done.state == PurchaseState.CONFIRMED and world.stock == 2  # one unit, once


def test_the_database_down_at_the_settlement_leaves_it_pending_and_recovery_finishes_it():
    world = World()
    world.store.failures.queue("settle_purchase", ConnectionLost("server closed the connection"))

    async def scenario():
        with pytest.raises(ConnectionLost):
            await world.buy(1)
        assert world.store.only().state == PurchaseState.PENDING and world.stock == 2  # units held
        finished = await recover(world.purchases, older_than_seconds=0, call_timeout=5)
        return finished, world.store.only()

    finished, purchase = run(scenario)
    assert finished == 1 and purchase.state == PurchaseState.CONFIRMED and world.stock == 2


def test_catalog_down_at_the_release_leaves_it_cancelling_and_a_retry_finishes_it():
    world = World()

    async def scenario():
        bought = await world.buy(2)
        world.catalog.failures.queue("release_stock", DOWN)
        with pytest.raises(Unavailable):
            await world.purchases.cancel_purchase(bought.id, ANA)
        cancelling, held = world.store.only(), world.stock
        return cancelling, held, await world.purchases.cancel_purchase(bought.id, ANA)

    cancelling, held, cancelled = run(scenario)
    assert cancelling.state == PurchaseState.CANCELLING and held == 1  # the units not back yet
    assert cancelled.state == PurchaseState.CANCELLED and world.stock == 3


def test_recovery_finishes_a_cancellation_left_halfway():
    world = World()

    async def scenario():
        bought = await world.buy(1)
        world.catalog.failures.queue("release_stock", DOWN)
        with pytest.raises(Unavailable):
            await world.purchases.cancel_purchase(bought.id, ANA)
        await recover(world.purchases, older_than_seconds=0, call_timeout=5)
        return world.store.only()

    assert run(scenario).state == PurchaseState.CANCELLED and world.stock == 3


def test_a_refused_reservation_fails_the_purchase_through_failing():
    world = World()
    request_id = str(uuid.uuid4())

    world.catalog.failures.queue("reserve_stock", PeerRefused("the catalog service refused it (ALREADY_EXISTS)",
                                                              "CATALOG_REFUSED"))

    async def scenario():
        return await world.buy(1, request_id)

    failed = run(scenario)
    assert (failed.state, failed.effective) == (PurchaseState.FAILED, False)
    assert "ALREADY_EXISTS" in failed.failure_reason
    assert world.catalog.failures.calls["release_stock"] == 1 and world.stock == 3


def test_a_total_beyond_bigint_fails_the_purchase_and_its_units_come_back():
    world = World(price_cents=BIGINT_MAX // 2 + 1)

    async def scenario():
        return await world.buy(2)

    failed = run(scenario)
    assert failed.state == PurchaseState.FAILED and "out of range" in failed.failure_reason
    assert world.stock == 3  # granted, then released by the failure


def test_a_total_beyond_bigint_in_a_batch_of_settlements_fails_that_purchase_alone():
    world = World(stock=10)
    world.catalog.discs["x"] = FakeDisc(3, BIGINT_MAX // 2 + 1)

    async def scenario():
        orders = [world.buy(1) for _ in range(4)] + [world.buy(2, disc="x")] + [world.buy(1) for _ in range(4)]
        return await asyncio.gather(*orders)

    bought = run(scenario)
    assert [p.state for p in bought] == [PurchaseState.CONFIRMED] * 4 + [PurchaseState.FAILED] \
        + [PurchaseState.CONFIRMED] * 4
    assert "out of range" in bought[4].failure_reason
    assert world.stock == 2 and world.catalog.discs["x"].stock == 3
    # They went together: the refused statement was one of several, then each was written alone.
    assert any(n.startswith("settle_purchases of ") and n != "settle_purchases of 1"
               for n in world.store.failures.calls)


def test_a_failure_while_failing_is_finished_by_recovery():
    world = World(price_cents=BIGINT_MAX // 2 + 1)
    world.catalog.failures.queue("release_stock", DOWN)

    async def scenario():
        with pytest.raises(Unavailable):
            await world.buy(2)
        failing = world.store.only()
        await recover(world.purchases, older_than_seconds=0, call_timeout=5)
        return failing, world.store.only()

    failing, failed = run(scenario)
    assert failing.state == PurchaseState.FAILING and failed.state == PurchaseState.FAILED and world.stock == 3


def test_an_unexplained_failure_is_retried_a_bounded_number_of_times_then_fails():
    world = World()
    odd = ServiceError("the reservation table is being repaired", "UNDER_REPAIR")
    world.catalog.failures.queue("reserve_stock", odd, *[odd] * MAX_ATTEMPTS)

    async def scenario():
        with pytest.raises(ServiceError):
            await world.buy(1)
        states = []
        for _ in range(MAX_ATTEMPTS):
            await recover(world.purchases, older_than_seconds=0, call_timeout=5)
            states.append(world.store.only().state)
        return states

    states = run(scenario)
    assert states == [PurchaseState.PENDING] * (MAX_ATTEMPTS - 1) + [PurchaseState.FAILED]
    assert f"gave up after {MAX_ATTEMPTS} attempts" in world.store.only().failure_reason and world.stock == 3


def test_a_failure_whose_units_cannot_be_given_back_gets_its_own_attempts_then_is_left_to_an_operator():
    world = World(price_cents=BIGINT_MAX // 2 + 1)  # its total cannot be recorded: it fails, units taken
    odd = ServiceError("the reservation table is being repaired", "UNDER_REPAIR")
    world.catalog.failures.queue("release_stock", odd, *[odd] * (MAX_ATTEMPTS + 2))

    async def scenario():
        with pytest.raises(ServiceError):
            await world.buy(2)
        seen = []
        for _ in range(MAX_ATTEMPTS + 2):
            await recover(world.purchases, older_than_seconds=0, call_timeout=5)
            seen.append((world.store.only().state, world.store.only().attempts))
        return seen

    seen = run(scenario)
    left = (PurchaseState.FAILING, MAX_ATTEMPTS)
    assert seen == [(PurchaseState.FAILING, n) for n in range(1, MAX_ATTEMPTS)] + [left] * 3  # then untouched
    assert world.stock == 1  # not given back: an operator's to finish


def test_a_passing_failure_is_retried_without_counting():
    world = World()
    world.catalog.failures.queue("reserve_stock", DOWN, *[DOWN] * (MAX_ATTEMPTS + 2))

    async def scenario():
        with pytest.raises(Unavailable):
            await world.buy(1)
        for _ in range(MAX_ATTEMPTS + 2):
            await recover(world.purchases, older_than_seconds=0, call_timeout=5)
        pending = world.store.only()
        await recover(world.purchases, older_than_seconds=0, call_timeout=5)  # the catalog is back
        return pending, world.store.only()

    pending, confirmed = run(scenario)
    assert (pending.state, pending.attempts) == (PurchaseState.PENDING, 0)
    assert confirmed.state == PurchaseState.CONFIRMED


def test_an_unknown_disc_leaves_no_purchase():
    world = World()

    async def scenario():
        with pytest.raises(NotFound):
            await world.buy(disc="nope")

    run(scenario)
    assert world.store.rows == {}


def test_recovery_leaves_purchases_younger_than_the_grace_alone():
    world = World()
    world.catalog.failures.queue("reserve_stock", DOWN)

    async def scenario():
        with pytest.raises(Unavailable):
            await world.buy(1)
        return await recover(world.purchases, older_than_seconds=60, call_timeout=5)

    assert run(scenario) == 0 and world.store.only().state == PurchaseState.PENDING
