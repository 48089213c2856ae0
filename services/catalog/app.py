"""The catalog service, wired: a default app (runtime.server.default_app), its servicer built on
the database, its change feed and its access rules.

Used by `python -m services.catalog` (runtime.server.run_service) and by the tests (runtime.server.start).
"""

from __future__ import annotations

from ..runtime.auth import Access
from ..runtime.db import Database
from ..runtime.feed import Feed
from ..runtime.server import ServiceApp, Settings, default_app
from . import repository
from .access import ACCESS
from .servicer import SERVICE, CatalogServicer
from .usecases import Catalog


def servicer(database: Database, feed: Feed, access: Access) -> CatalogServicer:
    return CatalogServicer(Catalog(repository.store(database)), feed)


# METRICS_ADDR: Prometheus's /metrics
APP: ServiceApp[Settings] = default_app(
    "catalog", SERVICE, ACCESS, servicer, listen_addr="127.0.0.1:50052", metrics_addr="127.0.0.1:9462"
)
