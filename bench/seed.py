"""Seeds the benchmark's catalog (up to a million discs) and customers, once per data directory."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2

from devstack.postgres import Cluster
from services.runtime.queries import load_queries

QUERIES = load_queries(Path(__file__).with_name("seed.sql"))
HOT_DISCS = 1000
CUSTOMERS = 1000
BATCH = 100_000


def number_id(n: int) -> str:
    return f"00000000-0000-7000-8000-{n:012d}"


def subject_of(n: int) -> str:
    """The token subject seeded customer n signed up with (see seed.sql)."""
    return f"bench-{n}"


def seed(cluster: Cluster, discs: int, log=print) -> None:
    """Adds what is missing: as each service's own role, as the service would write it."""
    # Seeding inserts 100,000 rows a statement: beyond the roles' statement_timeout, which is for
    # the services' queries.
    no_timeout = "-c statement_timeout=0"
    with psycopg2.connect(cluster.service_url("customers"), options=no_timeout) as conn, conn.cursor() as cursor:
        cursor.execute(QUERIES["seed_customers"], {"customers": CUSTOMERS})
    conn.close()
    conn = psycopg2.connect(cluster.service_url("catalog"), options=no_timeout)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(QUERIES["count_discs"])
        present = cursor.fetchone()[0]
        if present >= discs:
            conn.close()
            return
        started = time.monotonic()
        for first in range(1, discs + 1, BATCH):
            cursor.execute(QUERIES["seed_discs"], {"first": first, "last": min(first + BATCH - 1, discs),
                                                   "hot": HOT_DISCS})
            log(f"  seeded discs up to {min(first + BATCH - 1, discs):,} ({time.monotonic() - started:.0f}s)")
        cursor.execute("ANALYZE catalog.discs")
    conn.close()
