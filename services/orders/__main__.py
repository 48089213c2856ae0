"""python -m services.orders: migrate the orders schema, then serve until SIGTERM.

Besides the common settings it reads CUSTOMERS_ADDR and CATALOG_ADDR (host:port),
REQUEST_BUDGET_SECONDS (deadline of a purchase whose caller set none, default 5) and
RECOVERY_INTERVAL_SECONDS / RECOVERY_GRACE_SECONDS (the recovery loop, default 2 and 5).
"""

from pathlib import Path

from recordstore.orders.v1 import orders_pb2_grpc

from ..runtime import config
from ..runtime.server import run_service
from .clients import CatalogClient, CustomersClient
from .recovery import RecoveryLoop
from .servicer import SERVICE_NAME, OrderServicer
from .usecases import Purchases


async def build(database):
    customers = CustomersClient(config.address("CUSTOMERS_ADDR", "127.0.0.1:50051"))
    catalog = CatalogClient(config.address("CATALOG_ADDR", "127.0.0.1:50052"))
    budget = config.seconds("REQUEST_BUDGET_SECONDS", 5.0)
    purchases = Purchases(database, customers, catalog, budget)
    RecoveryLoop(purchases,
                 interval=config.seconds("RECOVERY_INTERVAL_SECONDS", 2.0),
                 grace=config.seconds("RECOVERY_GRACE_SECONDS", 5.0),
                 call_timeout=budget).start()

    def add(server) -> None:
        orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServicer(purchases, budget), server)
    return add


if __name__ == "__main__":
    run_service(
        name="orders",
        default_listen_addr="127.0.0.1:50053",
        schema="orders",
        migrations_dir=Path(__file__).with_name("migrations"),
        service_names=[SERVICE_NAME],
        build=build,
    )
