"""The pgbench script of one purchase, made from the services' own named queries.

The same four statements the services send, each its own transaction as the services commit
them: the customer lookup, the pending purchase, the stock reservation, the settlement.
Placeholders become pgbench variables, quoted as psycopg2 quotes them (pgbench's simple protocol
pastes a variable's text in place), so the server sees the same statements as from the services.
"""

from __future__ import annotations

import re

from services.catalog.repository import QUERIES as CATALOG
from services.customers.repository import QUERIES as CUSTOMERS
from services.orders.repository import QUERIES as ORDERS
from services.orders.repository import STATES as PURCHASE_STATES
from services.catalog.repository import STATES as CATALOG_STATES

# The states the queries take as parameters, quoted as psycopg2 quotes them.
ORDER_STATES = {name: f"'{state}'" for name, state in PURCHASE_STATES.items()}
RESERVATION_STATES = {name: f"'{state}'" for name, state in CATALOG_STATES.items()}


def substitute(sql: str, values: dict[str, str]) -> str:
    missing = set(re.findall(r"%\((\w+)\)s", sql)) - set(values)
    if missing:
        raise KeyError(f"no pgbench value for {sorted(missing)}")
    return re.sub(r"%\((\w+)\)s", lambda m: values[m.group(1)], sql).rstrip().rstrip(";")


def one_line(sql: str) -> str:
    """pgbench reads one statement per line unless it ends with ';' on the last line."""
    return " ".join(sql.split())


def purchase_script(customer_id: str, disc_id: str, subject: str) -> str:
    """One purchase of one unit of `disc_id` by `customer_id`, signed up as `subject` (pgbench picks
    among several such scripts, so that load spreads over discs as the gRPC and JSON load
    generators spread it)."""
    cid, did, sub = f"'{customer_id}'", f"'{disc_id}'", f"'{subject}'"
    statements = [
        one_line(substitute(CUSTOMERS["get_customer"], {"id": cid})) + ";",
        one_line(substitute(ORDERS["insert_pending_purchase"], {
            "request_id": "gen_random_uuid()", "customer_id": cid, "disc_id": did, "quantity": ":qty",
            "customer_subject": sub, "recorded_by": sub, **ORDER_STATES})),
        "\\gset p_",
        one_line(substitute(CATALOG["reserve_stock"], {
            "reservation_id": "':p_id'", "disc_id": did, "quantity": ":qty", **RESERVATION_STATES})),
        "\\gset r_",
        one_line(substitute(ORDERS["settle_purchase"], {
            "id": "':p_id'", "granted": "(':r_state' = 'granted')", "unit_price_cents": ":r_unit_price_cents",
            "currency": "':r_currency'", **ORDER_STATES})) + ";",
    ]
    return "\\set qty 1\n" + "\n".join(statements) + "\n"
