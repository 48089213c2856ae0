import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import grpc
import psycopg2
import pytest
from google.protobuf import timestamp_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2 as pb

from devstack.loopback import free_address
from services.orders.clients import CatalogClient, CustomersClient
from services.orders.model import PurchaseOrder
from services.orders import repository as orders_repository
from services.orders.recovery import recover
from services.orders.usecases import Purchases
from services.runtime.deadlines import Deadline
from services.runtime.errors import Unavailable
from tests.support import (brl, buy, create_customer, create_disc, customer_caller, every_page, raises_status, stock_of,
                           tls_as)

Purchase = pb.Purchase


def list_all(stack, **filters):
    return every_page(stack.orders.ListPurchases, pb.ListPurchasesRequest, "purchases", **filters)


def reservations_of(stack, disc_id):
    with psycopg2.connect(stack.cluster.service_url("catalog")) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT state, quantity FROM catalog.reservations WHERE disc_id = %s", (disc_id,))
        rows = cursor.fetchall()
    conn.close()
    return rows


def test_the_seed_scenario(stack):
    """Create a customer and a disc, buy within stock, then beyond it."""
    customer = create_customer(stack)
    disc = create_disc(stack, stock=3, price=brl(59, 90))

    within = buy(stack, customer.id, disc.id, quantity=2)
    assert within.effective is True and within.state == Purchase.CONFIRMED
    assert (within.unit_price.units, within.unit_price.nanos) == (59, 900_000_000)
    assert (within.total_price.units, within.total_price.nanos) == (119, 800_000_000)
    assert stock_of(stack, disc.id) == 1

    beyond = buy(stack, customer.id, disc.id, quantity=2)
    assert beyond.effective is False and beyond.state == Purchase.REJECTED
    assert stock_of(stack, disc.id) == 1
    # Persisted all the same, and listed with the customer's purchases.
    assert stack.orders.GetPurchase(pb.GetPurchaseRequest(id=beyond.id)) == beyond
    assert [p.id for p in list_all(stack, customer_id=customer.id)] == [beyond.id, within.id]


@pytest.mark.parametrize("purchase, field", [
    ({"quantity": 0}, "purchase.quantity"),
    ({"quantity": -2}, "purchase.quantity"),
    ({"quantity": 5000}, "purchase.quantity"),
    ({"customer_id": ""}, "purchase.customer_id"),
    ({"disc_id": "abc"}, "purchase.disc_id"),
])
def test_create_names_the_invalid_field(stack, purchase, field):
    values = {"customer_id": str(uuid.uuid4()), "disc_id": str(uuid.uuid4()), "quantity": 1, **purchase}
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        buy(stack, **values)


def test_an_unknown_customer_or_disc_is_not_found_and_nothing_is_recorded(stack):
    customer = create_customer(stack)
    disc = create_disc(stack)
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        buy(stack, str(uuid.uuid4()), disc.id)
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="DISC_NOT_FOUND"):
        buy(stack, customer.id, str(uuid.uuid4()))
    assert list_all(stack, customer_id=customer.id) == []


def test_a_deactivated_customer_cannot_buy(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=2)
    stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=customer.id))
    with raises_status(grpc.StatusCode.FAILED_PRECONDITION, reason="CUSTOMER_DEACTIVATED"):
        buy(stack, customer.id, disc.id)
    assert stock_of(stack, disc.id) == 2 and list_all(stack, customer_id=customer.id) == []


def test_a_retry_after_deactivation_still_gets_the_first_answer(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=2)
    request_id = str(uuid.uuid4())
    first = buy(stack, customer.id, disc.id, request_id=request_id)
    stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=customer.id))
    assert buy(stack, customer.id, disc.id, request_id=request_id) == first


def test_a_repeated_request_id_returns_the_first_purchase(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=5)
    request_id = str(uuid.uuid4())
    first = buy(stack, customer.id, disc.id, quantity=2, request_id=request_id)
    again = buy(stack, customer.id, disc.id, quantity=2, request_id=request_id)
    assert again == first and first.request_id == request_id
    assert stock_of(stack, disc.id) == 3
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED"):
        buy(stack, customer.id, disc.id, quantity=1, request_id=request_id)


def test_concurrent_retries_make_one_purchase_and_one_reservation(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=5)
    request_id = str(uuid.uuid4())
    barrier = threading.Barrier(10)

    def attempt(_):
        barrier.wait()
        return buy(stack, customer.id, disc.id, quantity=2, request_id=request_id)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attempt, range(10)))
    assert len({a.id for a in answers}) == 1
    assert all(a.state == Purchase.CONFIRMED for a in answers)
    assert len(list_all(stack, customer_id=customer.id)) == 1
    assert reservations_of(stack, disc.id) == [("granted", 2)]
    assert stock_of(stack, disc.id) == 3


def test_stock_is_never_sold_twice_under_concurrent_purchases(stack):
    """120 concurrent purchases of one unit against a stock of 20."""
    disc = create_disc(stack, stock=20)
    customers = [create_customer(stack) for _ in range(6)]
    barrier = threading.Barrier(40)

    def attempt(i):
        if i < 40:
            barrier.wait()
        return buy(stack, customers[i % len(customers)].id, disc.id, quantity=1)

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(attempt, range(120)))
    assert sum(a.effective for a in answers) == 20
    assert sum(a.state == Purchase.REJECTED for a in answers) == 100
    assert stock_of(stack, disc.id) == 0
    recorded = [p for c in customers for p in list_all(stack, customer_id=c.id)]
    assert len(recorded) == 120 and sum(p.effective for p in recorded) == 20


def test_get_unknown_purchase_is_not_found(stack):
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.GetPurchase(pb.GetPurchaseRequest(id=str(uuid.uuid4())))


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def test_listing_by_customer_and_time_period_newest_first(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=10)
    made = []
    for _ in range(5):
        made.append(buy(stack, customer.id, disc.id))
        time.sleep(0.01)
    times = [p.create_time.ToDatetime(tzinfo=timezone.utc) for p in made]
    newest_first = [p.id for p in reversed(made)]
    assert [p.id for p in list_all(stack, customer_id=customer.id)] == newest_first
    # [start, end): the second up to (not including) the fourth.
    window = list_all(stack, customer_id=customer.id, start_time=stamp(times[1]), end_time=stamp(times[3]))
    assert [p.id for p in window] == [made[2].id, made[1].id]
    # A period alone (all customers) still contains ours, and only within the period.
    period = list_all(stack, start_time=stamp(times[0]), end_time=stamp(times[4] + timedelta(microseconds=1)))
    assert {p.id for p in made} <= {p.id for p in period}
    assert all(times[0] <= p.create_time.ToDatetime(tzinfo=timezone.utc) <= times[4] for p in period)


def test_purchase_pages_reach_the_end_without_repeats(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=10)
    made = {buy(stack, customer.id, disc.id).id for _ in range(7)}
    pages, token = [], ""
    while True:
        page = stack.orders.ListPurchases(pb.ListPurchasesRequest(customer_id=customer.id, page_size=3,
                                                                  page_token=token))
        pages.append([p.id for p in page.purchases])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert set(sum(pages, [])) == made


def test_listing_rejects_an_empty_period_and_bad_ids(stack):
    now = datetime.now(timezone.utc)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="end_time"):
        stack.orders.ListPurchases(pb.ListPurchasesRequest(start_time=stamp(now), end_time=stamp(now)))
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="customer_id"):
        stack.orders.ListPurchases(pb.ListPurchasesRequest(customer_id="someone"))


def test_cancel_gives_the_units_back_once(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=3)
    purchase = buy(stack, customer.id, disc.id, quantity=2)
    cancelled = stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=purchase.id))
    assert cancelled.state == Purchase.CANCELLED and cancelled.effective and cancelled.HasField("cancel_time")
    assert stock_of(stack, disc.id) == 3
    assert stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=purchase.id)) == cancelled
    assert stock_of(stack, disc.id) == 3


def test_cancel_of_a_not_effective_purchase_is_refused(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=0)
    rejected = buy(stack, customer.id, disc.id)
    with raises_status(grpc.StatusCode.FAILED_PRECONDITION, reason="PURCHASE_NOT_EFFECTIVE"):
        stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=rejected.id))
    with raises_status(grpc.StatusCode.NOT_FOUND):
        stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=str(uuid.uuid4())))


def test_concurrent_cancels_restock_once(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=2)
    purchase = buy(stack, customer.id, disc.id, quantity=2)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=purchase.id)),
                                range(8)))
    assert all(a.state == Purchase.CANCELLED for a in answers)
    assert stock_of(stack, disc.id) == 2


def purchases_with(stack, customers_addr: str, catalog_addr: str) -> Purchases:
    """The purchase use cases against other peers (a dead one, say), on the services' loop."""
    async def make():
        return Purchases(orders_repository.store(stack.databases["orders"]), CustomersClient(customers_addr, tls_as("orders")),
                         CatalogClient(catalog_addr, tls_as("orders")), budget=5)
    return stack.run(make())


def test_catalog_down_fails_fast_and_a_retry_finishes_the_purchase(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=4)
    cut_off = purchases_with(stack, stack.addresses["customers"], free_address())
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    with pytest.raises(Unavailable):
        stack.run(cut_off.create_purchase(PurchaseOrder(customer.id, disc.id, 1), request_id, Deadline(5), customer_caller(stack, customer.id)))
    assert time.monotonic() - started < 2
    pending = list_all(stack, customer_id=customer.id)
    assert [p.state for p in pending] == [Purchase.PENDING] and stock_of(stack, disc.id) == 4
    # The client retries once the catalog is back: one purchase, stock taken once.
    done = buy(stack, customer.id, disc.id, request_id=request_id)
    assert done.id == pending[0].id and done.state == Purchase.CONFIRMED
    assert stock_of(stack, disc.id) == 3


def test_customers_down_fails_fast_and_records_nothing(stack):
    disc = create_disc(stack, stock=4)
    customer = create_customer(stack)
    cut_off = purchases_with(stack, free_address(), stack.addresses["catalog"])
    with pytest.raises(Unavailable):
        stack.run(cut_off.create_purchase(PurchaseOrder(customer.id, disc.id, 1), None, Deadline(5), customer_caller(stack, customer.id)))
    assert list_all(stack, customer_id=customer.id) == [] and stock_of(stack, disc.id) == 4


def test_the_recovery_step_finishes_a_pending_purchase(stack):
    customer = create_customer(stack)
    disc = create_disc(stack, stock=1)
    cut_off = purchases_with(stack, stack.addresses["customers"], free_address())
    with pytest.raises(Unavailable):
        stack.run(cut_off.create_purchase(PurchaseOrder(customer.id, disc.id, 1), None, Deadline(5), customer_caller(stack, customer.id)))
    stack.run(recover(stack.purchases, older_than_seconds=0, call_timeout=5))
    [purchase] = list_all(stack, customer_id=customer.id)
    assert purchase.state == Purchase.CONFIRMED and stock_of(stack, disc.id) == 0
