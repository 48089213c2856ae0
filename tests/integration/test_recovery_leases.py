"""Several orders replicas each run a recovery loop over the same table: each unfinished purchase
is leased to one loop at a time, so no purchase is worked on (nor settled) twice."""

import asyncio
import collections
import time

from recordstore.orders.v1 import orders_pb2 as pb

from devstack.invariant import check
from services.catalog.repository import store as catalog_store
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog.servicer import CatalogServicer
from services.catalog.usecases import Catalog
from services.orders.clients import CatalogClient, CustomersClient
from services.orders.recovery import MAX_ATTEMPTS, RecoveryLoop
from services.orders.repository import store as orders_store
from services.orders.usecases import Purchases
from services.runtime.server import create_server
from tests.integration.test_recovery import admin_sql, get, pending_purchase, wait_until
from tests.support import adding, create_customer, create_disc, stock_of, tls_as, unwatched_feed


class CountingCatalog(CatalogServicer):
    """The real catalog, counting the ReserveStock calls it gets per reservation id; each takes a
    little while, as over a network, so that two loops on one purchase would overlap."""

    reserved: collections.Counter

    async def ReserveStock(self, request, context):
        self.reserved[request.reservation_id] += 1
        await asyncio.sleep(0.01)
        return await super().ReserveStock(request, context)


async def lease(stack, purchase_id, replica, seconds=30.0):
    async with orders_store(stack.databases["orders"]).autocommit() as repo:
        return await repo.lease_purchase(purchase_id, seconds, replica)


async def release(stack, purchase_id, replica):
    async with orders_store(stack.databases["orders"]).autocommit() as repo:
        await repo.release_purchase_lease(purchase_id, replica)


def test_a_purchase_is_leased_to_one_replica_until_it_gives_the_lease_back_or_the_lease_runs_out(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    purchase_id, row = pending_purchase(customer.id, disc.id, 1)
    admin_sql(cluster, row)

    taken = stack.run(lease(stack, purchase_id, "orders-a"))
    assert taken is not None and (taken.id, taken.state) == (purchase_id, "pending")
    assert stack.run(lease(stack, purchase_id, "orders-b")) is None  # a's, while it lives
    assert stack.run(purchases_listed(stack, purchase_id)) is False  # and out of everyone's work list
    stack.run(release(stack, purchase_id, "orders-b"))  # only the holder gives it back
    assert stack.run(lease(stack, purchase_id, "orders-b")) is None
    stack.run(release(stack, purchase_id, "orders-a"))
    assert stack.run(lease(stack, purchase_id, "orders-b", seconds=0.0)) is not None
    # b "died" holding a lease that has run out: a takes it over.
    assert stack.run(lease(stack, purchase_id, "orders-a")) is not None


async def purchases_listed(stack, purchase_id) -> bool:
    async with orders_store(stack.databases["orders"]).autocommit() as repo:
        listed = await repo.list_unfinished_purchases(0, 10_000, MAX_ATTEMPTS)
    return any(p.id == purchase_id for p in listed)


def test_a_finished_purchase_is_not_leased(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    purchase_id, row = pending_purchase(customer.id, disc.id, 1)
    admin_sql(cluster, row, ("UPDATE orders.purchases SET state = 'rejected', unit_price_cents = 1, total_cents = 1,"
                             " currency = 'BRL' WHERE id = %s", (purchase_id,)))
    assert stack.run(lease(stack, purchase_id, "orders-a")) is None


def test_two_replicas_recovery_loops_take_each_purchase_once(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=100)
    planted = [pending_purchase(customer.id, disc.id, 1) for _ in range(40)]
    counting = CountingCatalog(Catalog(catalog_store(stack.databases["catalog"])), unwatched_feed(stack, "catalog"))
    counting.reserved = collections.Counter()

    async def two_replicas():
        host = create_server("127.0.0.1:0", [CATALOG_SERVICE_NAME],
                             adding(counting), None,
                             tls_files=tls_as("catalog"))
        await host.start()
        loops = []
        for replica in ("orders-a", "orders-b"):
            purchases = Purchases(orders_store(stack.databases["orders"]),
                                  CustomersClient(stack.addresses["customers"], tls_as("orders")),
                                  CatalogClient(f"127.0.0.1:{host.port}", tls_as("orders")), budget=5)
            loops.append(RecoveryLoop(purchases, interval=0.05, grace=0.0, call_timeout=5, replica=replica))
        for loop in loops:  # on the same tick: both see the same work list
            loop.start()
        return host, loops

    admin_sql(cluster, *(row for _, row in planted))
    host, loops = stack.run(two_replicas())
    try:
        wait_until(lambda: all(get(stack, p).state == pb.Purchase.CONFIRMED for p, _ in planted), timeout=30)
    finally:
        for loop in loops:
            stack.run(loop.close())
        stack.run(host.stop(0))
    ids = {p for p, _ in planted}
    twice = {p: n for p, n in counting.reserved.items() if p in ids and n > 1}
    assert not twice, f"reserved more than once: {twice}"
    assert set(counting.reserved) >= ids
    assert stock_of(stack, disc.id) == 100 - len(planted)
    report = check(cluster.admin_url, [disc.id])
    assert report.ok, report.violations
    leases = stack.run(leases_of(stack, ids))
    assert leases == 0, "a lease was not given back"


async def leases_of(stack, ids) -> int:
    async with stack.databases["orders"].autocommit() as connection:
        row = await connection.one(
            "SELECT count(*) FROM orders.recovery_leases WHERE purchase_id = ANY(%(ids)s::uuid[])", {"ids": list(ids)})
    return row[0]
