"""The change feeds (docs/feed.md), over gRPC against the real services and PostgreSQL: what each
service's events say, replaying from a cursor and following live, never out of order for one
entity and never past a transaction still in flight, who may read, cursors, bounds, shutdown."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections import defaultdict

import grpc
import psycopg2
from psycopg2 import sql
import pytest
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2

from services.catalog.repository import QUERIES as CATALOG_QUERIES
from services.customers import app as customers_app
from services.runtime.feed import Feed, FeedSettings
from services.runtime.server import start
from tests.support import (bearer, buy, channel, common_settings, create_customer, create_disc, following,
                           raises_status, status_details, tls_as, unique)

PURCHASE, DISC, CUSTOMER = orders_pb2.PurchaseEvent, catalog_pb2.DiscEvent, customers_pb2.CustomerEvent


def end_of(cluster, schema: str) -> str:
    """The cursor of the newest event of a feed (where a reader starting now would resume)."""
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}.events").format(sql.Identifier(schema)))
        found = cursor.fetchone()[0]
    conn.close()
    return str(found)


def watch_purchases(stack, after: str = "", metadata=None):
    return following(stack.orders.WatchPurchaseEvents, orders_pb2.WatchPurchaseEventsRequest(after_cursor=after),
                     metadata)


def watch_discs(stack, after: str = "", metadata=None):
    return following(stack.catalog.WatchDiscEvents, catalog_pb2.WatchDiscEventsRequest(after_cursor=after), metadata)


def watch_customers(stub, after: str = "", metadata=None):
    return following(stub.WatchCustomerEvents, customers_pb2.WatchCustomerEventsRequest(after_cursor=after), metadata)


def of(events, field: str, entity_id: str) -> list:
    return [e for e in events if e.type != e.HEARTBEAT and getattr(e, field).id == entity_id]


# -- what the events say ---------------------------------------------------------------------


def test_a_purchases_final_states_are_its_events_in_order(stack, cluster):
    start = end_of(cluster, "orders")
    customer, disc = create_customer(stack), create_disc(stack, stock=2)
    bought = buy(stack, customer.id, disc.id, 2)
    rejected = buy(stack, customer.id, disc.id, 1)
    cancelled = stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    with watch_purchases(stack, start) as feed:
        feed.until(lambda got: len(of(got, "purchase", bought.id)) == 2 and of(got, "purchase", rejected.id))
    events = feed.events()
    assert [(e.type, e.purchase.state) for e in of(events, "purchase", bought.id)] == [
        (PURCHASE.CONFIRMED, orders_pb2.Purchase.CONFIRMED), (PURCHASE.CANCELLED, orders_pb2.Purchase.CANCELLED)]
    assert of(events, "purchase", bought.id)[-1].purchase == cancelled  # the purchase as the change left it
    assert [e.type for e in of(events, "purchase", rejected.id)] == [PURCHASE.REJECTED]
    cursors = [int(e.cursor) for e in events]
    assert cursors == sorted(set(cursors)) and cursors[0] > int(start)
    assert all(e.event_time.seconds > 0 for e in events)


def test_a_discs_creation_and_every_stock_change_are_its_events(stack, cluster):
    start = end_of(cluster, "catalog")
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    bought = buy(stack, customer.id, disc.id, 2)
    assert not buy(stack, customer.id, disc.id, 2).effective  # not enough stock: no change, no event
    stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    restocked = stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc.id, quantity=5), timeout=10)
    with watch_discs(stack, start) as feed:
        events = of(feed.until(lambda got: len(of(got, "disc", disc.id)) == 4), "disc", disc.id)
    assert [(e.type, e.quantity, e.reservation_id, e.disc.stock) for e in events] == [
        (DISC.CREATED, 0, "", 3), (DISC.STOCK_RESERVED, 2, bought.id, 1), (DISC.STOCK_RELEASED, 2, bought.id, 3),
        (DISC.RESTOCKED, 5, "", 8)]
    assert events[-1].disc == restocked and events[0].disc.title == disc.title


def test_a_customers_sign_up_registration_and_deactivation_are_its_events(stack, cluster):
    start = end_of(cluster, "customers")
    signed_up = create_customer(stack)
    registered = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
        name="Walk-in", email=f"{unique('walkin')}@example.com")))
    stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=signed_up.id))
    with watch_customers(stack.customers, start) as feed:
        feed.until(lambda got: len(of(got, "customer", signed_up.id)) == 2 and of(got, "customer", registered.id))
    events = feed.events()
    assert [(e.type, e.customer.state) for e in of(events, "customer", signed_up.id)] == [
        (CUSTOMER.CREATED, customers_pb2.Customer.ACTIVE), (CUSTOMER.DEACTIVATED, customers_pb2.Customer.DEACTIVATED)]
    assert of(events, "customer", signed_up.id)[0].customer.subject != ""
    assert [(e.type, e.customer.subject) for e in of(events, "customer", registered.id)] == [(CUSTOMER.CREATED, "")]


# -- cursors: replay, resume, follow ---------------------------------------------------------


def test_a_reader_resuming_after_a_cursor_gets_what_follows_it_and_nothing_before(stack, cluster):
    start = end_of(cluster, "customers")
    made = [create_customer(stack) for _ in range(3)]
    with watch_customers(stack.customers, start) as feed:
        first = feed.until(lambda got: len(got) >= 3)[:3]
    assert [e.customer.id for e in first] == [c.id for c in made]
    with watch_customers(stack.customers, first[0].cursor) as feed:
        again = feed.until(lambda got: len(got) >= 2)[:2]
    assert again == first[1:]  # the same events, the same cursors


def test_a_reader_at_the_end_gets_each_new_event_as_it_commits(stack, cluster):
    with watch_discs(stack, end_of(cluster, "catalog")) as feed:
        disc = create_disc(stack, stock=1)
        [created] = of(feed.until(lambda got: of(got, "disc", disc.id)), "disc", disc.id)
        stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc.id, quantity=1), timeout=10)
        restocked = of(feed.until(lambda got: len(of(got, "disc", disc.id)) == 2), "disc", disc.id)[1]
    assert (created.type, restocked.type, restocked.disc.stock) == (DISC.CREATED, DISC.RESTOCKED, 2)


def test_an_empty_cursor_replays_the_feed_from_the_oldest_event_kept(stack, cluster):
    create_customer(stack)
    with watch_customers(stack.customers) as feed:
        replayed = feed.until(lambda got: got and int(got[-1].cursor) >= int(end_of(cluster, "customers")))
    cursors = [int(e.cursor) for e in replayed]
    assert cursors == sorted(set(cursors))


def test_a_position_is_not_handed_out_while_a_transaction_that_drew_a_smaller_one_runs(stack, cluster):
    """Two restocks: the first draws position N and stays open; the second draws N+1 and commits.
    A reader handed N+1 first and resuming after it would never see N: the feed holds N+1 back
    until N's transaction ends, then hands out both, in order."""
    slow_disc, fast_disc = create_disc(stack, stock=1), create_disc(stack, stock=1)
    restock = CATALOG_QUERIES["restock_disc"]
    held = psycopg2.connect(cluster.service_url("catalog"))
    quick = psycopg2.connect(cluster.service_url("catalog"))
    quick.autocommit = True
    try:
        with watch_discs(stack, end_of(cluster, "catalog")) as feed:
            with held.cursor() as cursor:  # BEGIN, the change and its event; not committed yet
                cursor.execute(restock, {"id": slow_disc.id, "quantity": 1, "max_stock": 1_000_000,
                                         "request_id": None})
            with quick.cursor() as cursor:
                cursor.execute(restock, {"id": fast_disc.id, "quantity": 1, "max_stock": 1_000_000,
                                         "request_id": None})
            time.sleep(0.3)  # room for a feed that would hand out N+1 now (and lose N) to do so
            held.commit()
            got = feed.until(lambda got: of(got, "disc", slow_disc.id) and of(got, "disc", fast_disc.id))
        events = [e for e in got if e.type != e.HEARTBEAT]
        assert [e.disc.id for e in events] == [slow_disc.id, fast_disc.id]
        assert int(events[1].cursor) == int(events[0].cursor) + 1
    finally:
        held.close()
        quick.close()


def test_concurrent_writers_committing_out_of_order_and_rolling_back_lose_nothing_to_a_resuming_reader(
        stack, cluster):
    """Writers restock a few discs in transactions that stay open for a random while, a fifth of
    them rolled back, so that positions commit out of order; a reader reconnects from its last
    cursor now and then. Deduplicated by cursor, it got exactly the events committed, each disc's
    in the order of its changes (every stock is the one before it plus the units restocked)."""
    discs = [create_disc(stack, stock=0) for _ in range(3)]
    start = end_of(cluster, "catalog")
    restock = CATALOG_QUERIES["restock_disc"]
    stop_writing = threading.Event()
    errors = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        conn = psycopg2.connect(cluster.service_url("catalog"))
        try:
            while not stop_writing.is_set():
                with conn.cursor() as cursor:
                    cursor.execute(restock, {"id": rng.choice(discs).id, "quantity": 1, "max_stock": 1_000_000,
                                             "request_id": None})
                    cursor.execute("SELECT pg_sleep(%s)", (rng.random() * 0.02,))
                conn.rollback() if rng.random() < 0.2 else conn.commit()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            conn.close()

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(6)]
    for thread in writers:
        thread.start()
    received, cursor, connections = {}, start, 0
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # reconnect after every few events, from the last cursor
            connections += 1
            with watch_discs(stack, cursor) as feed:
                feed.until(lambda got: len([e for e in got if e.type != e.HEARTBEAT]) >= 7)
                for event in list(feed.items):
                    assert int(event.cursor) > int(cursor)
                    cursor = event.cursor
                    if event.type != event.HEARTBEAT:
                        received[int(event.cursor)] = event
    finally:
        stop_writing.set()
        for thread in writers:
            thread.join()
    assert not errors, errors
    end = end_of(cluster, "catalog")
    with watch_discs(stack, cursor) as feed:  # the rest, up to the last committed
        for event in feed.until(lambda got: got and int(got[-1].cursor) >= int(end)):
            received[int(event.cursor)] = event
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as sql:
        sql.execute("SELECT id FROM catalog.events WHERE id > %s AND id <= %s", (int(start), int(end)))
        committed = {row[0] for row in sql.fetchall()}
    conn.close()
    assert set(received) == committed and connections > 2
    chains = defaultdict(list)
    for position in sorted(received):
        chains[received[position].disc.id].append(received[position].disc.stock)
    for stocks in chains.values():
        assert stocks == list(range(stocks[0], stocks[0] + len(stocks)))


# -- who may read ----------------------------------------------------------------------------


def first_status(method, request, metadata=None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(method(request, metadata=metadata, timeout=10)))
    return caught.value


def test_the_feeds_are_for_the_staff_and_backend_services_not_for_customers(stack, cluster, pki):
    customer = create_customer(stack)
    request = orders_pb2.WatchPurchaseEventsRequest(after_cursor=end_of(cluster, "orders"))
    refused = first_status(stack.orders.WatchPurchaseEvents, request, bearer(stack.tokens[customer.id]))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [d.reason for d in status_details(refused) if hasattr(d, "reason")] == ["ROLE_REQUIRED"]
    # Without a token: a backend service's certificate reads, the gateway's and the tools' do not.
    pki.issue("fulfilment")
    disc = create_disc(stack)
    after = str(int(end_of(cluster, "catalog")) - 1)
    with channel(stack.addresses["catalog"], identity="fulfilment") as backend:
        with following(catalog_pb2_grpc.CatalogServiceStub(backend).WatchDiscEvents,
                       catalog_pb2.WatchDiscEventsRequest(after_cursor=after)) as feed:
            assert of(feed.until(lambda got: of(got, "disc", disc.id)), "disc", disc.id)[0].type == DISC.CREATED
    for identity in ("gateway", "client"):
        with channel(stack.addresses["catalog"], identity=identity) as anonymous:
            refused = first_status(catalog_pb2_grpc.CatalogServiceStub(anonymous).WatchDiscEvents,
                                   catalog_pb2.WatchDiscEventsRequest())
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED, identity


@pytest.mark.parametrize("cursor, reason", [("abc", "INVALID_FIELD"), ("-1", "INVALID_FIELD"),
                                            ("01", "INVALID_FIELD"), ("99999999999999999999", "INVALID_FIELD"),
                                            ("9223372036854775807", "INVALID_CURSOR")])
def test_a_cursor_not_of_this_feed_is_invalid_argument_naming_it(stack, cursor, reason):
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="after_cursor", reason=reason):
        next(iter(stack.orders.WatchPurchaseEvents(orders_pb2.WatchPurchaseEventsRequest(after_cursor=cursor),
                                                   timeout=10)))


def test_a_cursor_retention_has_passed_is_out_of_range_saying_so(stack, cluster):
    """Retention keeping the newest event only: an older cursor is CURSOR_EXPIRED, with the oldest
    cursor still good; an empty cursor starts after what was deleted."""
    old = end_of(cluster, "customers")
    newest = create_customer(stack)
    create_customer(stack)

    async def purge() -> int:
        feed = Feed("customers", stack.databases["customers"], FeedSettings(retention_events=1))
        await feed.start()  # reads the horizon: only final positions are deleted
        try:
            return await feed.purge()
        finally:
            await feed.close()

    assert stack.run(purge()) > 0
    with raises_status(grpc.StatusCode.OUT_OF_RANGE, reason="CURSOR_EXPIRED") as caught:
        next(iter(stack.customers.WatchCustomerEvents(customers_pb2.WatchCustomerEventsRequest(after_cursor=old),
                                                      timeout=10)))
    [info] = [d for d in status_details(caught.value) if hasattr(d, "metadata")]
    oldest = info.metadata["oldest_cursor"]
    assert int(oldest) > int(old)
    with watch_customers(stack.customers, oldest) as feed:
        assert feed.until(lambda got: got)[0].type == CUSTOMER.CREATED
    with watch_customers(stack.customers) as feed:
        replayed = feed.until(lambda got: got)
    assert int(replayed[0].cursor) > int(oldest) and newest.id not in {e.customer.id for e in replayed}


# -- bounds, heartbeats, shutdown (on a customers service of the test's own) -----------------


@pytest.fixture
def own_customers(stack):
    """Starts a customers service with the given feed settings, on the session's database."""
    started = []

    def serve(**feed):
        settings = customers_app.Settings(dataclasses.replace(common_settings("customers"), feed=FeedSettings(**feed)))
        running = stack.run(start(customers_app.APP, settings, stack.databases["customers"]))
        started.append(running)
        opened = channel(f"127.0.0.1:{running.port}", stack.staff_token)
        started.append(opened)
        return running, customers_pb2_grpc.CustomerServiceStub(opened)

    yield serve
    for each in reversed(started):
        if isinstance(each, grpc.Channel):
            each.close()
        elif each.host.admission.open:  # not stopped by the test itself
            stack.run(each.stop(1))


def test_an_idle_stream_gets_heartbeats_carrying_its_position(stack, cluster, own_customers):
    _, stub = own_customers(heartbeat_seconds=0.2)
    end = end_of(cluster, "customers")
    with watch_customers(stub, end) as feed:
        beats = feed.until(lambda got: len(got) >= 2)
    assert all(b.type == CUSTOMER.HEARTBEAT and not b.HasField("customer") for b in beats)
    assert all(int(b.cursor) >= int(end) and b.event_time.seconds > 0 for b in beats)


def test_streams_are_bounded_per_caller_and_per_process(stack, cluster, own_customers):
    _, stub = own_customers(max_subscribers=3, max_subscribers_per_caller=2)
    create_customer(stack)
    after = str(int(end_of(cluster, "customers")) - 1)  # one event each: each stream has started
    ana, bia, cid = (bearer(stack.issuer.staff_token(unique(name))) for name in ("ana", "bia", "cid"))
    with watch_customers(stub, after, ana) as one, watch_customers(stub, after, ana) as two:
        for each in (one, two):
            each.until(lambda got: got)
        refused = first_status(stub.WatchCustomerEvents, customers_pb2.WatchCustomerEventsRequest(after_cursor=after),
                               ana)
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with watch_customers(stub, after, bia) as three:
            three.until(lambda got: got)
            refused = first_status(stub.WatchCustomerEvents,
                                   customers_pb2.WatchCustomerEventsRequest(after_cursor=after), cid)
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert [d.reason for d in status_details(refused) if hasattr(d, "reason")] == ["TOO_MANY_SUBSCRIBERS"]
    # Once they end, their places are free again.
    deadline = time.monotonic() + 10
    while True:
        with watch_customers(stub, after, cid) as again:
            again.until(lambda got: got or again.ended is not None)
            if again.items:
                break
        assert time.monotonic() < deadline, "the places of ended streams were not given back"


def test_a_stopping_server_ends_its_streams_with_unavailable_and_drains(stack, cluster, own_customers):
    running, stub = own_customers()
    create_customer(stack)
    with watch_customers(stub, str(int(end_of(cluster, "customers")) - 1)) as feed:
        feed.until(lambda got: got)  # the stream is running
        stack.run(running.stop(grace=10))
        ended = feed.wait_ended()
    assert ended.code() == grpc.StatusCode.UNAVAILABLE
    assert [d.reason for d in status_details(ended) if hasattr(d, "reason")] == ["SHUTTING_DOWN"]
    assert "resume from your last cursor" in ended.details()


def test_a_request_that_is_not_valid_utf8_is_invalid_argument_naming_its_field(stack):
    """The streams' requests are checked as they arrive, as every other method's are."""
    with channel(stack.addresses["orders"], stack.staff_token) as opened:
        raw = opened.unary_stream("/recordstore.orders.v1.OrderService/WatchPurchaseEvents",
                                  request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="after_cursor", reason="INVALID_UTF8"):
            next(iter(raw(b"\x0a\x02\xff\xfe", timeout=10)))
