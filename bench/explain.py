"""EXPLAIN of every listing query, with every filter: none may scan discs or purchases whole."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg2

from devstack.postgres import Cluster
from services.catalog.model import DiscFilter
from services.catalog.repository import QUERIES as CATALOG
from services.catalog.repository import list_discs_params
from services.orders.model import PurchaseFilter
from services.orders.repository import QUERIES as ORDERS
from services.orders.repository import list_purchases_params

SEQ_SCANS = ("Seq Scan on discs", "Seq Scan on purchases")


def disc_cases(sample_id: str) -> dict[str, dict]:
    cases = {
        "no filter": DiscFilter(),
        "artist (partial)": DiscFilter(artist="silva"),
        "artist (full name)": DiscFilter(artist="Gal Costa"),
        "title (partial)": DiscFilter(title="saudade"),
        "genre": DiscFilter(genre="bossa nova"),
        "release year": DiscFilter(release_year=1972),
        "genre + year": DiscFilter(genre="MPB", release_year=1972),
        "artist + title + genre + year": DiscFilter(artist="gal", title="mar", genre="MPB", release_year=1972),
    }
    params = {name: list_discs_params(where, None, 51) for name, where in cases.items()}
    params["next page (genre)"] = list_discs_params(DiscFilter(genre="Rock"), sample_id, 51)
    return params


def purchase_cases(customer_id: str) -> dict[str, dict]:
    now = datetime.now(timezone.utc)
    cases = {
        "all, newest first": PurchaseFilter(),
        "customer": PurchaseFilter(customer_id=customer_id),
        "period": PurchaseFilter(start_time=now - timedelta(hours=1), end_time=now),
        "customer + period": PurchaseFilter(customer_id=customer_id, start_time=now - timedelta(days=1), end_time=now),
    }
    params = {name: list_purchases_params(where, None, 51) for name, where in cases.items()}
    params["next page"] = list_purchases_params(PurchaseFilter(), (now, customer_id), 51)
    return params


def explain_all(cluster: Cluster, sample_disc_id: str, sample_customer_id: str,
                force_index: bool = False) -> list[tuple[str, str, bool]]:
    """(query, plan, ok) for each case. force_index (tiny smoke data) only asks whether an index
    path exists, since the planner rightly scans a tiny table whole."""
    results = []
    for role, query, cases in (("catalog", CATALOG["list_discs"], disc_cases(sample_disc_id)),
                               ("orders", ORDERS["list_purchases"], purchase_cases(sample_customer_id))):
        conn = psycopg2.connect(cluster.service_url(role))
        with conn.cursor() as cursor:
            if force_index:
                cursor.execute("SET enable_seqscan = off")
            for name, params in cases.items():
                cursor.execute("EXPLAIN " + cursor.mogrify(query, params).decode())
                plan = "\n".join(row[0] for row in cursor.fetchall())
                results.append((f"{role}: {name}", plan, not any(scan in plan for scan in SEQ_SCANS)))
        conn.close()
    return results
