"""Peers that answer outside the contract, for real on loopback: the orders service takes the
answer for the peer's failure, with the peer's own reason, and never blames the buyer's fields."""

import uuid

import grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.invariant import check
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog.servicer import CatalogServicer
from services.customers import repository as customers_repository
from services.customers.access import ACCESS as CUSTOMERS_ACCESS
from services.customers.servicer import SERVICE as CUSTOMERS_SERVICE
from services.customers.servicer import SERVICE_NAME as CUSTOMERS_SERVICE_NAME
from services.customers.servicer import CustomerServicer
from services.customers.usecases import Customers
from services.runtime.auth import Access, Authenticator
from services.runtime.server import create_server
from tests.support import (adding, catalog_on, channel, create_customer, create_disc, raises_status, serve_orders, stock_of,
                           unwatched_feed,
                           tls_as)


class CustomersWithoutState(CustomerServicer):
    """The real customers service, answering GetCustomer without the customer's state."""

    async def GetCustomer(self, request, context):
        customer = await super().GetCustomer(request, context)
        customer.ClearField("state")
        return customer


class CatalogWithOddPrices(CatalogServicer):
    """The real catalog (the units are really taken), answering prices not in whole cents."""

    async def ReserveStock(self, request, context):
        reservation = await super().ReserveStock(request, context)
        reservation.unit_price.nanos += 5
        return reservation


async def serve(add, names, identity):
    host = create_server("127.0.0.1:0", names, add, None, tls_files=tls_as(identity))
    await host.start()
    return host


def purchase(customer_id, disc_id, quantity=1):
    return orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=quantity),
        request_id=str(uuid.uuid4()))


def test_a_customer_answered_without_a_state_is_the_customers_services_failure(stack):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    access = Access(CUSTOMERS_SERVICE, CUSTOMERS_ACCESS, Authenticator.from_env())
    odd = stack.run(serve(adding(CustomersWithoutState(
        Customers(customers_repository.store(stack.databases["customers"])), access,
        unwatched_feed(stack, "customers")), CUSTOMERS_SERVICE, CUSTOMERS_ACCESS),
        [CUSTOMERS_SERVICE_NAME], "customers"))
    orders = stack.run(serve_orders(stack.databases["orders"], f"127.0.0.1:{odd.port}", stack.addresses["catalog"]))
    try:
        with channel(f"127.0.0.1:{orders.port}", stack.tokens[customer.id]) as buyer:
            with raises_status(grpc.StatusCode.INTERNAL, reason="CUSTOMERS_MALFORMED_ANSWER") as caught:
                orders_pb2_grpc.OrderServiceStub(buyer).CreatePurchase(purchase(customer.id, disc.id), timeout=10)
        assert "customer state" in caught.value.details()
    finally:
        stack.run(orders.stop(1))
        stack.run(odd.stop(0))
    listed = stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(customer_id=customer.id))
    assert list(listed.purchases) == [] and stock_of(stack, disc.id) == 3  # nothing recorded, nothing taken


def test_a_price_not_in_whole_cents_fails_the_purchase_and_gives_its_units_back(stack, cluster):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    odd = stack.run(serve(adding(CatalogWithOddPrices(catalog_on(stack.databases["catalog"]),
                                                      unwatched_feed(stack, "catalog"))),
                          [CATALOG_SERVICE_NAME], "catalog"))
    orders = stack.run(serve_orders(stack.databases["orders"], stack.addresses["customers"], f"127.0.0.1:{odd.port}"))
    try:
        with channel(f"127.0.0.1:{orders.port}", stack.tokens[customer.id]) as buyer:
            failed = orders_pb2_grpc.OrderServiceStub(buyer).CreatePurchase(purchase(customer.id, disc.id, 2), timeout=10)
    finally:
        stack.run(orders.stop(1))
        stack.run(odd.stop(0))
    assert (failed.state, failed.effective) == (orders_pb2.Purchase.FAILED, False)
    assert "catalog service answered a malformed price" in failed.failure_reason, failed.failure_reason
    assert stock_of(stack, disc.id) == 3  # taken by the reservation, given back by the failure
    assert check(cluster.admin_url, [disc.id]).ok
