"""The orders service, wired: its settings, its clients of customers and catalog, the purchase
use cases, the recovery loop, and their shutdown, built from a database and the settings.

Used by `python -m services.orders` (runtime.server.run_service) and by the tests
(runtime.server.start), which turn the recovery loop off through the settings when they drive
recovery themselves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..runtime import config
from ..runtime.auth import Access
from ..runtime.db import Database
from ..runtime.feed import Feed
from ..runtime.guard import add_to_server
from ..runtime.server import Built, CommonSettings, ServiceApp
from . import metrics
from .access import ACCESS
from .clients import CatalogClient, CustomersClient
from .recovery import RecoveryLoop
from .servicer import SERVICE, SERVICE_NAME, OrderServicer
from .usecases import Purchases

log = logging.getLogger(__name__)
DEFAULT_LISTEN_ADDR = "127.0.0.1:50053"
DEFAULT_METRICS_ADDR = "127.0.0.1:9463"  # METRICS_ADDR: Prometheus's /metrics


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    customers_addr: str
    catalog_addr: str
    request_budget: float = 5.0  # REQUEST_BUDGET_SECONDS
    recovery_interval: float = 2.0  # RECOVERY_INTERVAL_SECONDS
    recovery_grace: float = 5.0  # RECOVERY_GRACE_SECONDS
    recovery: bool = True  # no environment variable: only tests that drive recovery themselves turn it off

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            common=CommonSettings.from_env(DEFAULT_LISTEN_ADDR, env, DEFAULT_METRICS_ADDR),
            customers_addr=config.address("CUSTOMERS_ADDR", "127.0.0.1:50051", env),
            catalog_addr=config.address("CATALOG_ADDR", "127.0.0.1:50052", env),
            request_budget=config.seconds("REQUEST_BUDGET_SECONDS", 5.0, env),
            recovery_interval=config.seconds("RECOVERY_INTERVAL_SECONDS", 2.0, env),
            recovery_grace=config.seconds("RECOVERY_GRACE_SECONDS", 5.0, env),
        )


@dataclass(frozen=True)
class OrdersBuilt(Built):
    purchases: Purchases | None = None  # the use cases the servicer serves, for tests that drive them


async def build(database: Database, settings: Settings) -> OrdersBuilt:
    """Call inside the event loop that will serve it (the peer channels belong to that loop)."""
    budget = settings.request_budget
    customers = CustomersClient(settings.customers_addr, settings.common.tls)
    catalog = CatalogClient(settings.catalog_addr, settings.common.tls)
    purchases = Purchases(metrics.store(database), customers, catalog, budget)
    feed = Feed("orders", database, settings.common.feed)
    await feed.start()
    servicer = OrderServicer(purchases, feed, budget)
    access = Access(SERVICE, ACCESS, settings.common.authenticator())
    recovery = None
    if settings.recovery:
        recovery = RecoveryLoop(
            purchases, interval=settings.recovery_interval, grace=settings.recovery_grace, call_timeout=budget
        )
        recovery.start()

    async def close() -> None:
        # Called once the server has stopped: purchases whose callers left are finished first
        # (each has the budget as deadline), then nothing else uses the channels.
        unfinished = await purchases.drain(timeout=budget)
        if unfinished:
            log.warning("%d purchase(s) still unfinished at shutdown: the next start recovers them", unfinished)
        if recovery is not None:
            await recovery.close()
        await feed.close()
        await customers.close()
        await catalog.close()

    return OrdersBuilt(lambda server: add_to_server(server, servicer, access), close, purchases)


APP = ServiceApp(
    name="orders",
    default_listen_addr=DEFAULT_LISTEN_ADDR,
    migrations_dir=Path(__file__).with_name("migrations"),
    service_names=[SERVICE_NAME],
    read_settings=Settings.from_env,
    build=build,
)
