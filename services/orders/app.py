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

from ..runtime import config
from ..runtime.db import Database
from ..runtime.server import Built, CommonSettings, ServiceApp, serve_behind_guard
from . import repository
from .access import ACCESS
from .clients import CatalogClient, CustomersClient
from .recovery import RecoveryLoop
from .servicer import SERVICE, OrderServicer
from .usecases import Purchases

log = logging.getLogger(__name__)
DEFAULT_LISTEN_ADDR = "127.0.0.1:50053"
DEFAULT_METRICS_ADDR = "127.0.0.1:9463"  # METRICS_ADDR: Prometheus's /metrics


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    customers_addr: str
    catalog_addr: str
    # REQUEST_BUDGET_SECONDS: the deadline of a purchase whose caller set none or left, and of each
    # recovery step; the one place it is stated.
    request_budget: float = 5.0
    recovery_interval: float = 2.0  # RECOVERY_INTERVAL_SECONDS
    recovery_grace: float = 5.0  # RECOVERY_GRACE_SECONDS
    recovery: bool = True  # no environment variable: only tests that drive recovery themselves turn it off

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            common=CommonSettings.from_env(DEFAULT_LISTEN_ADDR, env, DEFAULT_METRICS_ADDR),
            customers_addr=config.address("CUSTOMERS_ADDR", "127.0.0.1:50051", env),
            catalog_addr=config.address("CATALOG_ADDR", "127.0.0.1:50052", env),
            request_budget=config.seconds("REQUEST_BUDGET_SECONDS", cls.request_budget, env),
            recovery_interval=config.seconds("RECOVERY_INTERVAL_SECONDS", cls.recovery_interval, env),
            recovery_grace=config.seconds("RECOVERY_GRACE_SECONDS", cls.recovery_grace, env),
        )


@dataclass(frozen=True)
class OrdersBuilt(Built):
    purchases: Purchases | None = None  # the use cases the servicer serves, for tests that drive them


async def build(database: Database, settings: Settings) -> OrdersBuilt:
    """Call inside the event loop that will serve it (the peer channels belong to that loop)."""
    budget = settings.request_budget
    customers = CustomersClient(settings.customers_addr, settings.common.tls)
    catalog = CatalogClient(settings.catalog_addr, settings.common.tls)
    purchases = Purchases(repository.store(database), customers, catalog, budget)
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
        await customers.close()
        await catalog.close()

    built = await serve_behind_guard(
        "orders", SERVICE, ACCESS, database, settings.common, lambda feed, _: OrderServicer(purchases, feed), close
    )
    return OrdersBuilt(built.add_to, built.close, purchases)


APP = ServiceApp("orders", SERVICE, Settings.from_env, build)
