"""Schemathesis hooks for the rules no JSON Schema can state (tests/e2e/schemathesis.toml).

Each only skips the generated cases that break such a rule, which the services answer 400 as
they should: a schema-valid case that is refused for any other reason still fails the run.
"""

from __future__ import annotations

from datetime import datetime

import schemathesis

# Restocks in the run stay far below what a disc may hold: the cap is on the stock *after* the
# restock (MAX_STOCK, STOCK_LIMIT_EXCEEDED), which depends on the disc's stock at the time.
RESTOCK_CAP = 1000


def _moment(text):
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


@schemathesis.hook
def filter_query(ctx, query):
    """ListPurchases: end_time must be after start_time (a period is [start, end))."""
    if not query:
        return True
    start, end = _moment(query.get("start_time")), _moment(query.get("end_time"))
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return True
    return end > start


@schemathesis.hook
def filter_body(ctx, body):
    if ctx.operation.path.endswith(":restock") and isinstance(body, dict):
        quantity = body.get("quantity")
        return not (isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > RESTOCK_CAP)
    return True
