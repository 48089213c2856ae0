"""Batched internal calls: ReserveStocks and BatchGetCustomers answer each item as the call for one
would, only the orders service may send them, and purchases made at once go through them (and
through the orders service's batched writes) without selling a unit twice."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.rpc import code_pb2
from prometheus_client import REGISTRY
from recordstore.catalog.v1 import catalog_pb2 as pb
from recordstore.catalog.v1 import catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2

from devstack.invariant import check
from tests.e2e.test_hostile_corpus import INTEGERS, STRINGS
from tests.support import (as_customer, bearer, buy, channel, create_customer, create_disc, raises_status,
                           stock_of, unique)

GRANTED, REJECTED = pb.Reservation.GRANTED, pb.Reservation.REJECTED


def ask(disc_id: str, quantity: int, reservation_id: str | None = None) -> pb.ReserveStockRequest:
    return pb.ReserveStockRequest(reservation_id=reservation_id or str(uuid.uuid4()), disc_id=disc_id,
                                  quantity=quantity)


def reserve_many(stack, *asked) -> list:
    return list(stack.catalog_as_orders.ReserveStocks(pb.ReserveStocksRequest(reservations=asked)).results)


def test_reserve_stocks_answers_each_reservation_as_reserve_stock_would(stack):
    a, b = create_disc(stack, stock=3), create_disc(stack, stock=1)
    earlier = ask(b.id, 1)
    assert stack.catalog_as_orders.ReserveStock(earlier).state == GRANTED  # b is now empty
    first = ask(a.id, 2)
    unknown_disc = str(uuid.uuid4())
    results = reserve_many(
        stack,
        first,                                   # granted: 3 -> 1
        ask(a.id, 2),                            # rejected: 1 left
        ask(a.id, 1),                            # granted: 1 -> 0 (the same disc three times)
        ask(b.id, 1),                            # rejected: b is empty
        ask(unknown_disc, 1),                    # NOT_FOUND, as ReserveStock answers it
        first,                                   # the same reservation again: its first outcome
        ask(a.id, 1, first.reservation_id),      # its id for other units: ALREADY_EXISTS
        earlier,                                 # made before the batch: its outcome stands
    )
    kinds = [r.WhichOneof("result") for r in results]
    assert kinds == ["reservation"] * 4 + ["error", "reservation", "error", "reservation"]
    assert [r.reservation.state for r in results[:4]] == [GRANTED, REJECTED, GRANTED, REJECTED]
    assert results[4].error.code == code_pb2.NOT_FOUND and unknown_disc in results[4].error.message
    assert results[5].reservation == results[0].reservation
    assert results[6].error.code == code_pb2.ALREADY_EXISTS
    assert "RESERVATION_ID_REUSED" in str(results[6].error.details)
    assert results[7].reservation.id == earlier.reservation_id and results[7].reservation.state == GRANTED
    assert results[0].reservation.unit_price == a.price
    assert stock_of(stack, a.id) == 0 and stock_of(stack, b.id) == 0
    # And again, whole: every outcome is the first one, nothing moves.
    again = reserve_many(stack, first, earlier)
    assert [r.reservation for r in again] == [results[0].reservation, results[7].reservation]
    assert stock_of(stack, a.id) == 0


def test_concurrent_batches_over_the_same_discs_neither_deadlock_nor_oversell(stack):
    """Batches naming the same discs in every order, at once (as several orders replicas send
    them): each waits for the discs another holds, in id order, so none deadlocks."""
    discs = [create_disc(stack, stock=30) for _ in range(5)]

    def batch(n: int):
        order = discs[n % 5:] + discs[:n % 5]
        order = order if n % 2 else order[::-1]
        repeated = [order[0]] if n % 3 == 0 else []  # a disc twice: a batch of two statements
        return reserve_many(stack, *[ask(d.id, 1) for d in order + repeated])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [r for results in pool.map(batch, range(40)) for r in results]
    granted = sum(r.reservation.state == GRANTED for r in answers)
    assert all(r.WhichOneof("result") == "reservation" for r in answers)
    assert granted == min(len(answers), 150)
    assert sum(stock_of(stack, d.id) for d in discs) == 150 - granted  # (no purchase behind these)


def item_error(result, code, field: str) -> None:
    """One item of a batch refused alone, with the status the call for one would carry."""
    assert result.WhichOneof("result") == "error", result
    assert result.error.code == code and result.error.message.startswith(f"{field}: "), result.error
    assert field in str(result.error.details)  # the BadRequest naming it


def test_reserve_stocks_bounds_name_the_field_and_a_refused_reservation_is_refused_alone(stack):
    disc = create_disc(stack, stock=10)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="reservations"):
        reserve_many(stack)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="reservations"):
        reserve_many(stack, *[ask(disc.id, 1) for _ in range(257)])
    results = reserve_many(stack, ask(disc.id, 1), ask("not-a-uuid", 1), ask(disc.id, 0), ask(disc.id, 1_000_001),
                           ask(disc.id, 2))
    item_error(results[1], code_pb2.INVALID_ARGUMENT, "reservations[1].disc_id")
    item_error(results[2], code_pb2.INVALID_ARGUMENT, "reservations[2].quantity")
    item_error(results[3], code_pb2.INVALID_ARGUMENT, "reservations[3].quantity")
    assert [results[i].reservation.state for i in (0, 4)] == [GRANTED, GRANTED]
    assert stock_of(stack, disc.id) == 7  # the two valid ones, and nothing for the refused


@pytest.mark.parametrize("identity", ["client", "customers", "catalog"])
def test_only_the_orders_service_may_send_batches(stack, identity):
    disc, customer = create_disc(stack), create_customer(stack)
    with channel(stack.addresses["catalog"], stack.staff_token, identity=identity) as other:
        with raises_status(grpc.StatusCode.PERMISSION_DENIED, reason="SERVICE_REQUIRED"):
            catalog_pb2_grpc.CatalogServiceStub(other).ReserveStocks(
                pb.ReserveStocksRequest(reservations=[ask(disc.id, 1)]))
    lookup = customers_pb2.CustomerLookup(id=customer.id, bearer_token=stack.tokens[customer.id])
    with channel(stack.addresses["customers"], stack.staff_token, identity=identity) as other:
        with raises_status(grpc.StatusCode.PERMISSION_DENIED, reason="SERVICE_REQUIRED"):
            customers_pb2_grpc.CustomerServiceStub(other).BatchGetCustomers(
                customers_pb2.BatchGetCustomersRequest(lookups=[lookup]))
    assert stock_of(stack, disc.id) == disc.stock


def lookups_as_orders(stack, *lookups) -> list:
    with channel(stack.addresses["customers"], identity="orders") as as_orders:
        stub = customers_pb2_grpc.CustomerServiceStub(as_orders)
        return list(stub.BatchGetCustomers(customers_pb2.BatchGetCustomersRequest(lookups=lookups)).results)


def test_batch_get_customers_judges_each_lookup_by_its_own_token(stack):
    ana, bia = create_customer(stack), create_customer(stack)
    forged = stack.tokens[ana.id][:-4] + ("AAAA" if not stack.tokens[ana.id].endswith("AAAA") else "BBBB")
    outsider = stack.issuer.customer_token(unique("not-signed-up"), ttl=600)
    lookup = customers_pb2.CustomerLookup
    results = lookups_as_orders(
        stack,
        lookup(id=ana.id, bearer_token=stack.tokens[ana.id]),   # her own: found
        lookup(id=ana.id, bearer_token=stack.tokens[bia.id]),   # another customer's: NOT_FOUND
        lookup(id=ana.id, bearer_token=outsider),               # nobody's customer: NOT_FOUND
        lookup(id=ana.id, bearer_token=forged),                 # a bad signature: UNAUTHENTICATED
        lookup(id=bia.id, bearer_token=stack.staff_token),      # the staff sees everyone, as GetCustomer
        lookup(id=str(uuid.uuid4()), bearer_token=stack.staff_token),  # no such customer
        lookup(id=bia.id, bearer_token=stack.tokens[bia.id]),   # hers
    )
    assert [r.WhichOneof("result") for r in results] == ["customer", "error", "error", "error", "customer",
                                                          "error", "customer"]
    assert results[0].customer == stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=ana.id))
    assert [r.error.code for r in results[1:4]] == [code_pb2.NOT_FOUND, code_pb2.NOT_FOUND,
                                                    code_pb2.UNAUTHENTICATED]
    assert results[4].customer.id == bia.id and results[6].customer.id == bia.id
    assert results[5].error.code == code_pb2.NOT_FOUND
    # Not a word about whose the customer is: the same NOT_FOUND as for one that does not exist.
    assert results[1].error.message == f"customer {ana.id!r} not found"


def test_batch_get_customers_bounds_name_the_field_and_a_refused_lookup_is_refused_alone(stack):
    customer = create_customer(stack)
    token = stack.tokens[customer.id]
    lookup = customers_pb2.CustomerLookup
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="lookups"):
        lookups_as_orders(stack)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="lookups"):
        lookups_as_orders(stack, *[lookup(id=customer.id, bearer_token=token)] * 257)
    # A buyer's odd lookup (an id that is no UUID, no token, a token beyond what metadata may
    # carry) is that buyer's answer alone: the others of the batch are found.
    results = lookups_as_orders(stack, lookup(id="x", bearer_token=token), lookup(id=customer.id),
                                lookup(id=customer.id, bearer_token="x" * 16385),
                                lookup(id=customer.id, bearer_token=token))
    item_error(results[0], code_pb2.INVALID_ARGUMENT, "lookups[0].id")
    item_error(results[1], code_pb2.INVALID_ARGUMENT, "lookups[1].bearer_token")
    item_error(results[2], code_pb2.INVALID_ARGUMENT, "lookups[2].bearer_token")
    assert results[3].customer.id == customer.id


def batch_sizes(batch: str) -> tuple[float, float]:
    """(batches sent, items in them) of one batcher, from this process's metrics."""
    count = REGISTRY.get_sample_value("recordstore_batch_items_count", {"batch": batch}) or 0.0
    items = REGISTRY.get_sample_value("recordstore_batch_items_sum", {"batch": batch}) or 0.0
    return count, items


BATCHES = ("get_customer", "insert_pending_purchase", "reserve_stock", "settle_purchase")


def test_purchases_made_at_once_go_in_batches_and_sell_each_unit_once(stack, cluster):
    disc = create_disc(stack, stock=15)
    buyers = [create_customer(stack) for _ in range(8)]
    before = {batch: batch_sizes(batch) for batch in BATCHES}

    def purchase(n: int):
        buyer = buyers[n % len(buyers)]
        return buy(stack, buyer.id, disc.id, 1, request_id=str(uuid.uuid4()), timeout=20)

    with ThreadPoolExecutor(max_workers=40) as pool:
        bought = list(pool.map(purchase, range(60)))
    assert sum(p.effective for p in bought) == 15 and stock_of(stack, disc.id) == 0
    assert {p.state for p in bought} == {orders_pb2.Purchase.CONFIRMED, orders_pb2.Purchase.REJECTED}
    assert check(cluster.admin_url, [disc.id]).ok
    for batch in BATCHES:
        count, items = (now - then for now, then in zip(batch_sizes(batch), before[batch], strict=True))
        assert items == 60, f"{batch}: {items} items"
        assert count < items, f"{batch}: every one of the 60 went alone"
    # Each purchase is the one its buyer sees, once.
    for purchase in bought:
        seen = stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=purchase.id),
                                        metadata=as_customer(stack, purchase.customer_id))
        assert seen == purchase


def test_a_batch_of_purchases_with_a_deactivated_buyer_and_an_unknown_disc(stack):
    """What goes wrong for one purchase of a batch is that purchase's answer alone."""
    disc, gone = create_disc(stack, stock=5), create_disc(stack, stock=1)
    active, deactivated = create_customer(stack), create_customer(stack)
    stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=deactivated.id))
    unknown_disc = str(uuid.uuid4())
    plans = [(active, disc.id)] * 6 + [(deactivated, disc.id)] * 3 + [(active, unknown_disc)] * 3 \
        + [(active, gone.id)] * 2

    def attempt(plan):
        buyer, disc_id = plan
        try:
            return buy(stack, buyer.id, disc_id, 1, request_id=str(uuid.uuid4()), timeout=20)
        except grpc.RpcError as error:
            return error.code()

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        answers = list(pool.map(attempt, plans))
    assert sum(isinstance(a, orders_pb2.Purchase) and a.effective for a in answers[:6]) == 5
    assert answers[6:9] == [grpc.StatusCode.FAILED_PRECONDITION] * 3
    assert answers[9:12] == [grpc.StatusCode.NOT_FOUND] * 3
    assert sorted(a.effective for a in answers[12:]) == [False, True]
    assert stock_of(stack, disc.id) == 0 and stock_of(stack, gone.id) == 0


# What an item of a batch may be refused with: what the call for one would answer a client.
ITEM_CLIENT_CODES = {code_pb2.INVALID_ARGUMENT, code_pb2.NOT_FOUND, code_pb2.ALREADY_EXISTS,
                     code_pb2.UNAUTHENTICATED, code_pb2.PERMISSION_DENIED}


def test_hostile_values_in_a_batch_get_client_errors_and_take_nothing(stack):
    disc, customer = create_disc(stack, stock=5), create_customer(stack)
    token = stack.tokens[customer.id]
    lookup = customers_pb2.CustomerLookup
    cases = []
    for text in STRINGS:
        cases += [
            ("catalog", pb.ReserveStocksRequest(reservations=[ask(disc.id, 0), ask(disc.id, 0, text)])),
            ("catalog", pb.ReserveStocksRequest(reservations=[ask(text, 1), ask(str(uuid.uuid4()), 1)])),
            ("customers", customers_pb2.BatchGetCustomersRequest(
                lookups=[lookup(id=customer.id, bearer_token=token), lookup(id=text, bearer_token=token)])),
            ("customers", customers_pb2.BatchGetCustomersRequest(
                lookups=[lookup(id=customer.id, bearer_token=text), lookup(id=customer.id, bearer_token=token)])),
        ]
    for number in INTEGERS:
        quantity = max(-(2**31), min(2**31 - 1, number))
        cases.append(("catalog", pb.ReserveStocksRequest(reservations=[ask(disc.id, quantity),
                                                                       ask(str(uuid.uuid4()), quantity)])))
    bad = []
    with channel(stack.addresses["catalog"], identity="orders") as to_catalog, \
            channel(stack.addresses["customers"], identity="orders") as to_customers:
        stubs = {"catalog": catalog_pb2_grpc.CatalogServiceStub(to_catalog).ReserveStocks,
                 "customers": customers_pb2_grpc.CustomerServiceStub(to_customers).BatchGetCustomers}
        for service, request in cases:
            try:
                results = stubs[service](request, timeout=10).results
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    bad.append((str(request)[:120], error.code().name, error.details()[:120]))
                continue
            wrong = [r.error.code for r in results
                     if r.WhichOneof("result") == "error" and r.error.code not in ITEM_CLIENT_CODES]
            if wrong:
                bad.append((str(request)[:120], wrong))
    assert not bad, bad
    # A disc's stock moves only for a positive quantity it can give: 2**31 - 1 units it cannot.
    assert stock_of(stack, disc.id) == 5 - sum(1 <= n <= 5 for n in INTEGERS)


def test_a_long_token_buys_every_time_alone_and_in_a_batch(stack):
    """A valid token of some 11,000 characters (an identity provider's, with many claims): gRPC refuses
    metadata over 8 KiB at random unless told otherwise, on the way to orders and from orders to
    customers. Every purchase with it goes through, and those batched with it too."""
    subject = unique("many-claims")
    token = stack.issuer.mint(subject, ["customer"], ttl=600, claims_padding="x" * 8_000)
    assert 10_000 < len(token) < 12_000
    big = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
        customer=customers_pb2.Customer(name="Ana Longa", email=f"{unique('longa')}@example.com")),
        metadata=bearer(token))
    stack.tokens[big.id] = token
    disc = create_disc(stack, stock=1000)
    alone = [buy(stack, big.id, disc.id, 1, request_id=str(uuid.uuid4())) for _ in range(20)]
    assert all(p.effective for p in alone)
    others = [create_customer(stack) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=18) as pool:
        together = list(pool.map(lambda c: buy(stack, c.id, disc.id, 1, request_id=str(uuid.uuid4()), timeout=20),
                                 [big, *others] * 2))
    assert all(p.effective for p in together) and stock_of(stack, disc.id) == 1000 - 20 - 18
