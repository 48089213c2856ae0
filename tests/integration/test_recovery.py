"""The recovery loop takes each purchase on its own: one that can never settle ends FAILED (its
reservation released) and does not hold back the others."""

import time
import uuid

import grpc
import psycopg2
from prometheus_client import REGISTRY
from recordstore.orders.v1 import orders_pb2 as pb

from devstack.invariant import check
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog.servicer import CatalogServicer
from services.orders.clients import CatalogClient, CustomersClient
from services.orders.recovery import MAX_ATTEMPTS, RecoveryLoop, recover
from services.orders import repository as orders_repository
from services.orders.usecases import Purchases
from services.runtime.errors import ServiceError
from services.runtime.server import create_server
from tests.support import adding, buy, catalog_on, create_customer, create_disc, raises_status, stock_of, tls_as, unwatched_feed

Purchase = pb.Purchase
INTERVAL, GRACE = 0.2, 0.5  # docs/consistency.md's bound for recovery is their sum
BIGINT_MAX = 2**63 - 1


def admin_sql(cluster, *statements):
    """Runs (sql, params) pairs in one transaction as the superuser: data no RPC would write."""
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    conn.close()


def pending_purchase(customer_id, disc_id, quantity, age_seconds=0.0, subject=None):
    """A purchase row as CreatePurchase leaves it when it dies before ReserveStock: bought by the
    customer bound to `subject` (who sees it, and whose retry with its request id finds it)."""
    purchase_id = str(uuid.uuid4())
    return purchase_id, (
        "INSERT INTO orders.purchases (id, request_id, customer_id, disc_id, quantity, customer_subject, recorded_by,"
        " create_time, update_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, now() - make_interval(secs => %s), now() - make_interval(secs => %s))",
        (purchase_id, str(uuid.uuid4()), customer_id, disc_id, quantity, subject, subject, age_seconds, age_seconds))


def reservation(reservation_id, disc_id, quantity, state="rejected", unit_price_cents=5990):
    return ("INSERT INTO catalog.reservations (id, disc_id, quantity, state, unit_price_cents, currency)"
            " VALUES (%s, %s, %s, %s, %s, 'BRL')", (reservation_id, disc_id, quantity, state, unit_price_cents))


def take_stock(disc_id, quantity):
    """What a granted reservation does to the disc, so the catalog's own books stay balanced."""
    return "UPDATE catalog.discs SET stock = stock - %s WHERE id = %s", (quantity, disc_id)


def get(stack, purchase_id) -> pb.Purchase:
    return stack.orders.GetPurchase(pb.GetPurchaseRequest(id=purchase_id))


def wait_until(predicate, timeout) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not reached in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_purchases_that_can_never_settle_fail_alone_and_the_others_are_finished_within_the_bound(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=10)
    # Poison 1: the catalog already holds a reservation under this purchase's id for another
    # quantity, so ReserveStock answers ALREADY_EXISTS (RESERVATION_ID_REUSED) forever.
    reused, reused_row = pending_purchase(customer.id, disc.id, 1, age_seconds=3)
    # Poison 2: a granted reservation whose unit price times the quantity is beyond bigint, so the
    # settlement fails in PostgreSQL (numeric value out of range) forever; its 2 units are held.
    overflow, overflow_row = pending_purchase(customer.id, disc.id, 2, age_seconds=2)
    ordinary = [pending_purchase(customer.id, disc.id, 1) for _ in range(3)]
    admin_sql(cluster, reused_row, reservation(reused, disc.id, 5),
              overflow_row, reservation(overflow, disc.id, 2, "granted", BIGINT_MAX // 2 + 1),
              take_stock(disc.id, 2), *(row for _, row in ordinary))
    planted = time.monotonic()
    assert stock_of(stack, disc.id) == 8

    async def start():
        loop = RecoveryLoop(stack.purchases, interval=INTERVAL, grace=GRACE, call_timeout=5)
        loop.start()
        return loop

    loop = stack.run(start())
    try:
        wait_until(lambda: all(get(stack, p).state == Purchase.CONFIRMED for p, _ in ordinary), timeout=INTERVAL + GRACE + 5)
        finished_after = time.monotonic() - planted
        wait_until(lambda: {get(stack, p).state for p in (reused, overflow)} == {Purchase.FAILED}, timeout=5)
    finally:
        stack.run(loop.close())
    print(f"ordinary purchases beside two poison ones finished {finished_after:.2f}s after planting "
          f"(bound {INTERVAL + GRACE:.1f}s + one round)")
    assert finished_after < INTERVAL + GRACE + 2.0

    for poison, why in ((reused, "ALREADY_EXISTS"), (overflow, "out of range")):
        failed = get(stack, poison)
        assert not failed.effective and why in failed.failure_reason, failed.failure_reason
        assert not failed.HasField("total_price")
    assert stock_of(stack, disc.id) == 10 - 3  # the overflow's 2 units came back; the 3 ordinary took theirs
    report = check(cluster.admin_url, [disc.id])
    assert report.ok, report.violations


def test_a_retry_of_a_purchase_that_cannot_settle_answers_it_failed_and_it_cannot_be_cancelled(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=4)
    purchase_id, row = pending_purchase(customer.id, disc.id, 1, subject=customer.subject)
    admin_sql(cluster, row, reservation(purchase_id, disc.id, 3))
    request_id = get(stack, purchase_id).request_id

    failed = buy(stack, customer.id, disc.id, quantity=1, request_id=request_id)
    assert (failed.id, failed.state, failed.effective) == (purchase_id, Purchase.FAILED, False)
    assert "ALREADY_EXISTS" in failed.failure_reason
    assert buy(stack, customer.id, disc.id, quantity=1, request_id=request_id) == failed  # AIP-155: same answer
    with raises_status(grpc.StatusCode.FAILED_PRECONDITION, reason="PURCHASE_NOT_EFFECTIVE"):
        stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=purchase_id))
    assert stock_of(stack, disc.id) == 4 and check(cluster.admin_url, [disc.id]).ok


class BrokenCatalog(CatalogServicer):
    """The real catalog, except that ReserveStock fails with an error nobody can classify."""

    async def ReserveStock(self, request, context):
        raise ServiceError("the reservation table is being repaired", "UNDER_REPAIR")


class CatalogThatCannotRelease(CatalogServicer):
    """The real catalog, except that ReleaseStock fails with an error nobody can classify."""

    async def ReleaseStock(self, request, context):
        raise ServiceError("the reservation table is being repaired", "UNDER_REPAIR")


def against_a_broken_catalog(stack, broken=BrokenCatalog):
    """A catalog server of the `broken` kind, and purchase use cases that call it."""
    async def started():
        host = create_server("127.0.0.1:0", [CATALOG_SERVICE_NAME],
                             adding(broken(catalog_on(stack.databases["catalog"]), unwatched_feed(stack, "catalog"))),
                             None,
                             tls_files=tls_as("catalog"))
        await host.start()
        purchases = Purchases(orders_repository.store(stack.databases["orders"]), CustomersClient(stack.addresses["customers"], tls_as("orders")),
                              CatalogClient(f"127.0.0.1:{host.port}", tls_as("orders")), budget=5)
        return host, purchases

    return stack.run(started())


def test_an_unexplained_failure_is_retried_a_bounded_number_of_times_then_fails(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=4)
    purchase_id, row = pending_purchase(customer.id, disc.id, 1)
    admin_sql(cluster, row)

    host, purchases = against_a_broken_catalog(stack)
    try:
        for attempt in range(1, MAX_ATTEMPTS):
            stack.run(recover(purchases, older_than_seconds=0, call_timeout=5))
            assert get(stack, purchase_id).state == Purchase.PENDING, f"failed after only {attempt} attempt(s)"
        stack.run(recover(purchases, older_than_seconds=0, call_timeout=5))
    finally:
        stack.run(host.stop(0))
    failed = get(stack, purchase_id)
    assert failed.state == Purchase.FAILED and f"gave up after {MAX_ATTEMPTS} attempts" in failed.failure_reason
    assert "INTERNAL" in failed.failure_reason
    assert stock_of(stack, disc.id) == 4 and check(cluster.admin_url, [disc.id]).ok


def attempts_of(cluster, purchase_id) -> int:
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT attempts FROM orders.purchases WHERE id = %s", (purchase_id,))
        (attempts,) = cursor.fetchone()
    conn.close()
    return attempts


def test_a_cancellation_whose_units_cannot_be_given_back_is_retried_a_bounded_number_of_times_then_left_to_an_operator(
        stack, cluster, caplog):
    customer, disc = create_customer(stack), create_disc(stack, stock=4)
    bought = buy(stack, customer.id, disc.id, quantity=3)
    # A cancellation that died before ReleaseStock, as CancelPurchase leaves it.
    admin_sql(cluster, ("UPDATE orders.purchases SET state = 'cancelling', attempts = 0 WHERE id = %s", (bought.id,)))
    gave_up = REGISTRY.get_sample_value("recordstore_recovery_gave_up_total", {"state": "cancelling"}) or 0
    host, purchases = against_a_broken_catalog(stack, CatalogThatCannotRelease)
    try:
        for _ in range(MAX_ATTEMPTS):
            stack.run(recover(purchases, older_than_seconds=0, call_timeout=5))
        assert attempts_of(cluster, bought.id) == MAX_ATTEMPTS
        stack.run(recover(purchases, older_than_seconds=0, call_timeout=5))
        assert attempts_of(cluster, bought.id) == MAX_ATTEMPTS  # left out of recovery: not tried again
    finally:
        stack.run(host.stop(0))
    assert get(stack, bought.id).state == Purchase.CANCELLING and stock_of(stack, disc.id) == 1
    assert REGISTRY.get_sample_value("recordstore_recovery_gave_up_total", {"state": "cancelling"}) == gave_up + 1
    assert [r for r in caplog.records if f"recovery gives up on purchase {bought.id}, cancelling" in r.getMessage()]
    # The catalog mended, cancelling it again (the buyer, or an operator) gives its units back.
    cancelled = stack.orders.CancelPurchase(pb.CancelPurchaseRequest(id=bought.id), timeout=10)
    assert cancelled.state == Purchase.CANCELLED and stock_of(stack, disc.id) == 4
    assert check(cluster.admin_url, [disc.id]).ok
