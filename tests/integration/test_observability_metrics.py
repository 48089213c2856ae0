"""Each service process serves Prometheus metrics on its own port (METRICS_ADDR): after a purchase,
a rejected one and a cancellation, each endpoint's counters moved by exactly what was done."""

from __future__ import annotations

import urllib.request
import uuid
from types import SimpleNamespace

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from recordstore.catalog.v1 import catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.loopback import free_address
from devstack.postgres import SERVICES
from devstack.stack import ServiceStack
from tests.support import as_customer, buy, channel, create_customer, create_disc, raises_status

CUSTOMERS = "recordstore.customers.v1.CustomerService"
CATALOG = "recordstore.catalog.v1.CatalogService"
ORDERS = "recordstore.orders.v1.OrderService"


@pytest.fixture(scope="module")
def processes(cluster, issuer, pki):
    metrics = {name: free_address() for name in SERVICES}
    extra = {name: {"METRICS_ADDR": metrics[name]} for name in SERVICES}
    extra["orders"].update(RECOVERY_INTERVAL_SECONDS="0.2", RECOVERY_GRACE_SECONDS="0.5")
    services = ServiceStack(cluster, {name: free_address() for name in SERVICES}, extra, issuer.env())
    services.start()
    token = issuer.staff_token(ttl=3600)
    stubs = SimpleNamespace(
        customers=customers_pb2_grpc.CustomerServiceStub(channel(services.addresses["customers"], token)),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channel(services.addresses["catalog"], token)),
        orders=orders_pb2_grpc.OrderServiceStub(channel(services.addresses["orders"], token)),
        issuer=issuer,
        tokens={},
        metrics=metrics,
    )
    yield stubs
    assert set(services.stop().values()) == {0}


def scrape(address: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rpc(service: str, method: str, **more: str) -> frozenset:
    return frozenset({"grpc_type": "unary", "grpc_service": service, "grpc_method": method, **more}.items())


def moved(before: dict, after: dict, name: str, labels: frozenset) -> float:
    return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)


def test_each_service_counts_what_a_purchase_did_on_its_own_endpoint(processes):
    customer = create_customer(processes)
    disc = create_disc(processes, stock=1)
    before = {name: scrape(address) for name, address in processes.metrics.items()}

    effective = buy(processes, customer.id, disc.id, quantity=1)
    rejected = buy(processes, customer.id, disc.id, quantity=1)
    processes.orders.CancelPurchase(
        orders_pb2.CancelPurchaseRequest(id=effective.id), metadata=as_customer(processes, customer.id), timeout=10
    )
    assert (effective.effective, rejected.effective) == (True, False)
    after = {name: scrape(address) for name, address in processes.metrics.items()}

    orders, customers, catalog = after["orders"], after["customers"], after["catalog"]
    # RED per method and code, the go-grpc-prometheus names
    for name in ("grpc_server_started_total", "grpc_server_handling_seconds_count"):
        assert moved(before["orders"], orders, name, rpc(ORDERS, "CreatePurchase")) == 2
        assert moved(before["orders"], orders, name, rpc(ORDERS, "CancelPurchase")) == 1
        assert moved(before["customers"], customers, name, rpc(CUSTOMERS, "GetCustomer")) == 2
        assert moved(before["catalog"], catalog, name, rpc(CATALOG, "ReserveStock")) == 2
        assert moved(before["catalog"], catalog, name, rpc(CATALOG, "ReleaseStock")) == 1
    handled = "grpc_server_handled_total"
    assert moved(before["orders"], orders, handled, rpc(ORDERS, "CreatePurchase", grpc_code="OK")) == 2
    assert moved(before["catalog"], catalog, handled, rpc(CATALOG, "ReserveStock", grpc_code="OK")) == 2
    assert moved(before["customers"], customers, handled, rpc(CUSTOMERS, "GetCustomer", grpc_code="OK")) == 2
    # the orders service's calls to its peers, as it saw them
    client = "grpc_client_handled_total"
    assert moved(before["orders"], orders, client, rpc(CUSTOMERS, "GetCustomer", grpc_code="OK")) == 2
    assert moved(before["orders"], orders, client, rpc(CATALOG, "ReserveStock", grpc_code="OK")) == 2
    assert moved(before["orders"], orders, client, rpc(CATALOG, "ReleaseStock", grpc_code="OK")) == 1
    assert moved(before["orders"], orders, "grpc_client_handling_seconds_count", rpc(CATALOG, "ReserveStock")) == 2
    # what the business did
    for outcome, count in (("effective", 1), ("not_effective", 1), ("cancelled", 1), ("failed", 0)):
        labels = frozenset({"outcome": outcome}.items())
        assert moved(before["orders"], orders, "recordstore_purchases_total", labels) == count, outcome
    for outcome in ("granted", "rejected"):
        labels = frozenset({"outcome": outcome}.items())
        assert moved(before["catalog"], catalog, "recordstore_reservations_total", labels) == 1, outcome
    # each pool as its service sees it: 16 connections (DB_POOL_SIZE), units of work timed
    for name, scraped in after.items():
        pool = frozenset({"pool": name}.items())
        assert scraped[("db_pool_connections", pool)] == 16
        assert 0 <= scraped[("db_pool_connections_in_use", pool)] <= 16
        assert scraped[("db_pool_waiting", pool)] >= 0
        assert moved(before[name], scraped, "db_pool_wait_seconds_count", pool) >= 1
    # the recovery backlog, read by the loop's rounds (every 0.2 s here)
    assert ("recordstore_recovery_backlog_purchases", frozenset()) in orders
    assert ("recordstore_recovery_backlog_oldest_seconds", frozenset()) in orders


def test_a_failed_call_is_counted_under_its_code(processes):
    before = scrape(processes.metrics["orders"])
    with raises_status(grpc.StatusCode.NOT_FOUND):
        processes.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id="00000000-0000-4000-8000-000000000000"), timeout=10)
    after = scrape(processes.metrics["orders"])
    labels = rpc(ORDERS, "GetPurchase", grpc_code="NOT_FOUND")
    assert moved(before, after, "grpc_server_handled_total", labels) == 1


def test_a_recovery_round_reads_the_backlog_count_and_the_age_of_the_oldest(stack):
    """Inside a transaction that is rolled back, so no other test's recovery sees the planted rows."""
    from prometheus_client import REGISTRY

    from services.orders import repository as orders_repository
    from services.orders.model import PendingPurchase, PurchaseOrder

    async def round_with_two_planted() -> tuple[int, float]:
        async with orders_repository.store(stack.databases["orders"]).transaction() as repo:
            for _ in range(2):
                order = PurchaseOrder(str(uuid.uuid4()), str(uuid.uuid4()), 1)
                await repo.insert_pending_purchase(PendingPurchase(order, str(uuid.uuid4()), None, None))
            await repo.list_unfinished_purchases(older_than_seconds=3600, limit=100, max_attempts=5)  # what a round does
            row = await repo._connection.one(
                "SELECT count(*), extract(epoch FROM now() - min(create_time))::float8 FROM orders.purchases"
                " WHERE state IN ('pending', 'cancelling', 'failing')"
            )
            return row[0], row[1]  # and the block ends without commit: rolled back

    count, oldest = stack.run(round_with_two_planted())
    assert count >= 2
    assert REGISTRY.get_sample_value("recordstore_recovery_backlog_purchases") == count
    assert REGISTRY.get_sample_value("recordstore_recovery_backlog_oldest_seconds") == pytest.approx(oldest, abs=0.01)


def test_every_labelled_outcome_series_is_there_from_the_start_for_alerts(processes):
    """An alert on increase() needs a series to compare with: each known label value is exported
    at 0 before its first event, by the process that counts it."""
    orders, catalog = scrape(processes.metrics["orders"]), scrape(processes.metrics["catalog"])
    for state in ("cancelling", "failing"):
        assert ("recordstore_recovery_gave_up_total", frozenset({("state", state)})) in orders
    for outcome in ("granted", "rejected", "released"):
        assert ("recordstore_reservations_total", frozenset({("outcome", outcome)})) in catalog
    for scraped in (orders, catalog):
        for event in ("metadata_not_utf8", "answer_not_sent"):
            assert ("recordstore_grpc_log_events_total", frozenset({("event", event)})) in scraped
