"""Session-wide real parts: one embedded PostgreSQL, the three services in-process on loopback.

Each test makes its own customers and discs (unique names), so tests share the cluster safely.
"""

from __future__ import annotations

import os

# grpc core logs an INFO line whenever a test forks a service process; keep the output readable.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from dataclasses import dataclass  # noqa: E402

import grpc
import pytest
from recordstore.catalog.v1 import catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2_grpc

from devstack.postgres import SERVICES, Cluster, start_embedded
from services.catalog import servicer as catalog_servicer
from services.customers import servicer as customers_servicer
from services.orders.clients import CatalogClient, CustomersClient
from services.orders.servicer import SERVICE_NAME as ORDERS_SERVICE_NAME
from services.orders.servicer import OrderServicer
from services.orders.usecases import Purchases
from services.runtime.db import Database
from services.runtime.migrations import migrate
from services.runtime.server import ServiceHost, create_server
from tests.support import MIGRATIONS


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    return start_embedded(tmp_path_factory.mktemp("postgres") / "data").provision()


@dataclass
class Stack:
    customers: customers_pb2_grpc.CustomerServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    orders: orders_pb2_grpc.OrderServiceStub
    addresses: dict[str, str]
    databases: dict[str, Database]
    purchases: Purchases
    hosts: list[ServiceHost]


def serve_orders(database: Database, customers_addr: str, catalog_addr: str, budget: float = 5.0):
    """An orders server in this process; returns (host, the Purchases use cases it serves)."""
    purchases = Purchases(database, CustomersClient(customers_addr), CatalogClient(catalog_addr))
    host = create_server(
        "127.0.0.1:0", [ORDERS_SERVICE_NAME],
        lambda server: orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServicer(purchases, budget), server),
        database)
    host.start()
    return host, purchases


@pytest.fixture(scope="session")
def stack(cluster) -> Stack:
    databases = {name: Database(cluster.service_url(name), 20, f"test-{name}") for name in SERVICES}
    for name, database in databases.items():
        migrate(database, name, MIGRATIONS[name])
    customers_host = create_server("127.0.0.1:0", [customers_servicer.SERVICE_NAME],
                                   customers_servicer.add_to_server(databases["customers"]), databases["customers"],
                                   max_workers=20)
    catalog_host = create_server("127.0.0.1:0", [catalog_servicer.SERVICE_NAME],
                                 catalog_servicer.add_to_server(databases["catalog"]), databases["catalog"],
                                 max_workers=20)
    customers_host.start()
    catalog_host.start()
    addresses = {"customers": f"127.0.0.1:{customers_host.port}", "catalog": f"127.0.0.1:{catalog_host.port}"}
    orders_host, purchases = serve_orders(databases["orders"], addresses["customers"], addresses["catalog"])
    addresses["orders"] = f"127.0.0.1:{orders_host.port}"
    channels = {name: grpc.insecure_channel(address) for name, address in addresses.items()}
    yield Stack(
        customers=customers_pb2_grpc.CustomerServiceStub(channels["customers"]),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),
        orders=orders_pb2_grpc.OrderServiceStub(channels["orders"]),
        addresses=addresses,
        databases=databases,
        purchases=purchases,
        hosts=[customers_host, catalog_host, orders_host],
    )
    for channel in channels.values():
        channel.close()
    for host in (orders_host, catalog_host, customers_host):
        host.stop(grace=1)
    for database in databases.values():
        database.close()
