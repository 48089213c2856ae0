"""python -m services.orders: migrate the orders schema, then serve until SIGTERM.

Besides the common settings it reads CUSTOMERS_ADDR and CATALOG_ADDR (host:port),
REQUEST_BUDGET_SECONDS (deadline of a purchase whose caller set none, default 5) and
RECOVERY_INTERVAL_SECONDS / RECOVERY_GRACE_SECONDS (the recovery loop, default 2 and 5).
"""

import logging
from pathlib import Path

from recordstore.orders.v1 import orders_pb2_grpc

from ..runtime import config
from ..runtime.auth import Authenticator
from ..runtime.server import Built, run_service
from .clients import CatalogClient, CustomersClient
from .recovery import RecoveryLoop
from .servicer import SERVICE_NAME, OrderServicer
from .usecases import Purchases


log = logging.getLogger(__name__)


async def build(database) -> Built:
    authenticator = Authenticator.from_env()
    customers = CustomersClient(config.address("CUSTOMERS_ADDR", "127.0.0.1:50051"))
    catalog = CatalogClient(config.address("CATALOG_ADDR", "127.0.0.1:50052"))
    budget = config.seconds("REQUEST_BUDGET_SECONDS", 5.0)
    purchases = Purchases(database, customers, catalog, budget)
    recovery = RecoveryLoop(purchases,
                            interval=config.seconds("RECOVERY_INTERVAL_SECONDS", 2.0),
                            grace=config.seconds("RECOVERY_GRACE_SECONDS", 5.0),
                            call_timeout=budget)
    recovery.start()

    def add_to(server) -> None:
        orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServicer(purchases, budget, authenticator), server)

    async def close() -> None:
        # Called once the server has stopped: purchases whose callers left are finished first
        # (each has the budget as deadline), then nothing else uses the channels.
        unfinished = await purchases.drain(timeout=budget)
        if unfinished:
            log.warning("%d purchase(s) still unfinished at shutdown: the next start recovers them", unfinished)
        await recovery.close()
        await customers.close()
        await catalog.close()

    return Built(add_to, close)


if __name__ == "__main__":
    run_service(
        name="orders",
        default_listen_addr="127.0.0.1:50053",
        schema="orders",
        migrations_dir=Path(__file__).with_name("migrations"),
        service_names=[SERVICE_NAME],
        build=build,
    )
