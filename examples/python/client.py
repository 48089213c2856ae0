"""A backend of its own calling the record store over gRPC, with the stubs package
(`pip install <checkout>/protos`): the staff adds a disc, a customer signs up and buys one.
How to run it: README.md."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import grpc
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"{name} is not set (see README.md)")
    return value


def metadata(token: str, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
    """The call's bearer token, and an idempotency key: the same request again gets the same answer."""
    pairs = [("authorization", f"Bearer {token}")]
    if idempotency_key:
        pairs.append(("idempotency-key", idempotency_key))
    return tuple(pairs)


def main() -> None:
    # Every gRPC port takes mutual TLS only: the stack's CA and a client certificate it issued.
    tls_dir = Path(setting("RECORDSTORE_TLS"))
    tls = grpc.ssl_channel_credentials(*((tls_dir / name).read_bytes() for name in ("ca.pem", "client.key", "client.pem")))
    staff, shopper = setting("STAFF_TOKEN"), setting("CUSTOMER_TOKEN")
    with (
        grpc.secure_channel(setting("CUSTOMERS_ADDR", "localhost:50051"), tls) as to_customers,
        grpc.secure_channel(setting("CATALOG_ADDR", "localhost:50052"), tls) as to_catalog,
        grpc.secure_channel(setting("ORDERS_ADDR", "localhost:50053"), tls) as to_orders,
    ):
        disc = catalog_pb2_grpc.CatalogServiceStub(to_catalog).CreateDisc(
            catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
                title="Tropicália ou Panis et Circencis", artist="Vários", genre="Tropicália", release_year=1968,
                price=money_pb2.Money(currency_code="BRL", units=89, nanos=900_000_000), stock=10)),
            metadata=metadata(staff, "python-example-tropicalia"), timeout=5)
        customer = customers_pb2_grpc.CustomerServiceStub(to_customers).CreateCustomer(
            customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
                name="Gal Costa", email="gal@example.com")),
            metadata=metadata(shopper, "python-example-signs-up"), timeout=5)
        purchase = orders_pb2_grpc.OrderServiceStub(to_orders).CreatePurchase(
            orders_pb2.CreatePurchaseRequest(
                purchase=orders_pb2.Purchase(customer_id=customer.id, disc_id=disc.id, quantity=1),
                request_id=str(uuid.uuid4())),
            metadata=metadata(shopper), timeout=5)
    print(f"bought {purchase.quantity} of {disc.title}: {orders_pb2.Purchase.State.Name(purchase.state)}")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        raise SystemExit(f"{error.code().name}: {error.details()}") from None
