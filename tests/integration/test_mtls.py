"""Which service is calling: mutual TLS on every gRPC hop, and the stock reservations granted to
the orders service alone (by the SPIFFE ID in its certificate), while orders still buys."""

from __future__ import annotations

import uuid

import grpc
import pytest
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.orders.v1 import orders_pb2

from devstack.pki import DevPki
from services.runtime import tls
from tests.support import bearer, buy, channel, create_customer, create_disc, raises_status, stock_of, tls_as


def reserve(channel, disc_id: str, token: str | None = None):
    request = catalog_pb2.ReserveStockRequest(reservation_id=str(uuid.uuid4()), disc_id=disc_id, quantity=5)
    return catalog_pb2_grpc.CatalogServiceStub(channel).ReserveStock(request, timeout=5,
                                                                     metadata=bearer(token) if token else ())


@pytest.fixture(scope="module")
def stranger_pki(tmp_path_factory) -> DevPki:
    """Another CA, with a certificate that says `orders` as ours do."""
    return DevPki(tmp_path_factory.mktemp("stranger-tls")).ensure(["orders"])


def test_a_plaintext_client_is_refused(stack):
    disc = create_disc(stack, stock=5)
    with grpc.insecure_channel(stack.addresses["catalog"]) as plain:
        with raises_status(grpc.StatusCode.UNAVAILABLE):
            reserve(plain, disc.id, stack.staff_token)
        with raises_status(grpc.StatusCode.UNAVAILABLE):  # not even the public methods
            catalog_pb2_grpc.CatalogServiceStub(plain).GetDisc(catalog_pb2.GetDiscRequest(id=disc.id), timeout=5)
    assert stock_of(stack, disc.id) == 5


def test_a_certificate_of_another_ca_is_refused_even_saying_orders(stack, stranger_pki):
    disc = create_disc(stack, stock=5)
    # It trusts our CA (so the client accepts the server), but presents its own CA's "orders".
    files = tls.TlsFiles(ca=tls_as("client").ca, cert=stranger_pki.cert_path("orders").read_bytes(),
                         key=stranger_pki.key_path("orders").read_bytes())
    with tls.channel(stack.addresses["catalog"], files) as forged:
        with raises_status(grpc.StatusCode.UNAVAILABLE):
            reserve(forged, disc.id)
    assert stock_of(stack, disc.id) == 5


def test_a_client_without_a_certificate_is_refused(stack):
    disc = create_disc(stack, stock=5)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_as("client").ca)
    with grpc.secure_channel(stack.addresses["catalog"], credentials) as anonymous:
        with raises_status(grpc.StatusCode.UNAVAILABLE):
            reserve(anonymous, disc.id)
    assert stock_of(stack, disc.id) == 5


@pytest.mark.parametrize("identity", ["client", "customers", "catalog", "gateway"])
def test_a_valid_certificate_of_another_identity_may_not_reserve_or_release(stack, identity):
    disc = create_disc(stack, stock=5)
    with channel(stack.addresses["catalog"], stack.staff_token, identity=identity) as other:
        with raises_status(grpc.StatusCode.PERMISSION_DENIED, reason="SERVICE_REQUIRED"):
            reserve(other, disc.id)
        customer = create_customer(stack)
        bought = buy(stack, customer.id, disc.id, quantity=2)
        with raises_status(grpc.StatusCode.PERMISSION_DENIED, reason="SERVICE_REQUIRED"):
            catalog_pb2_grpc.CatalogServiceStub(other).ReleaseStock(
                catalog_pb2.ReleaseStockRequest(reservation_id=bought.id), timeout=5)
    assert stock_of(stack, disc.id) == 3  # the purchase's two units, and nothing released
    assert stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=bought.id)).state == orders_pb2.Purchase.CONFIRMED


def test_the_orders_service_still_buys_and_cancels(stack):
    disc, customer = create_disc(stack, stock=5), create_customer(stack)
    bought = buy(stack, customer.id, disc.id, quantity=2)
    assert bought.effective and stock_of(stack, disc.id) == 3
    cancelled = stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    assert cancelled.state == orders_pb2.Purchase.CANCELLED and stock_of(stack, disc.id) == 5
    with channel(stack.addresses["catalog"], identity="orders") as as_orders:
        assert reserve(as_orders, disc.id).state == catalog_pb2.Reservation.GRANTED
    assert stock_of(stack, disc.id) == 0
