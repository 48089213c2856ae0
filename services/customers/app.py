"""The customers service, wired: a default app (runtime.server.default_app), its servicer built on
the database, its change feed and its access rules (which the lookups of BatchGetCustomers, each
with its buyer's token, are let in by).

Used by `python -m services.customers` (runtime.server.run_service) and by the tests (runtime.server.start).
"""

from __future__ import annotations

from ..runtime.auth import Access
from ..runtime.db import Database
from ..runtime.feed import Feed
from ..runtime.server import ServiceApp, Settings, default_app
from . import repository
from .access import ACCESS
from .servicer import SERVICE, CustomerServicer
from .usecases import Customers


def servicer(database: Database, feed: Feed, access: Access) -> CustomerServicer:
    return CustomerServicer(Customers(repository.store(database)), access, feed)


# METRICS_ADDR: Prometheus's /metrics
APP: ServiceApp[Settings] = default_app(
    "customers", SERVICE, ACCESS, servicer, listen_addr="127.0.0.1:50051", metrics_addr="127.0.0.1:9461"
)
