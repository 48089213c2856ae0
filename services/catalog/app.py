"""The catalog service, wired: its settings, and its servicer built from a database and them.

Used by `python -m services.catalog` (runtime.server.run_service) and by the tests (runtime.server.start).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..runtime.auth import Access
from ..runtime.db import Database
from ..runtime.feed import Feed
from ..runtime.guard import add_to_server
from ..runtime.server import Built, CommonSettings, ServiceApp
from . import metrics
from .access import ACCESS
from .servicer import SERVICE, SERVICE_NAME, CatalogServicer
from .usecases import Catalog

DEFAULT_LISTEN_ADDR = "127.0.0.1:50052"
DEFAULT_METRICS_ADDR = "127.0.0.1:9462"  # METRICS_ADDR: Prometheus's /metrics


@dataclass(frozen=True)
class Settings:
    common: CommonSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(CommonSettings.from_env(DEFAULT_LISTEN_ADDR, env, DEFAULT_METRICS_ADDR))


async def build(database: Database, settings: Settings) -> Built:
    """The catalog calls no peer; its one background work is its change feed's."""
    feed = Feed("catalog", database, settings.common.feed)
    await feed.start()
    servicer = CatalogServicer(Catalog(metrics.store(database)), feed)
    access = Access(SERVICE, ACCESS, settings.common.authenticator())
    return Built(lambda server: add_to_server(server, servicer, access), feed.close)


APP = ServiceApp(
    name="catalog",
    default_listen_addr=DEFAULT_LISTEN_ADDR,
    migrations_dir=Path(__file__).with_name("migrations"),
    service_names=[SERVICE_NAME],
    read_settings=Settings.from_env,
    build=build,
)
