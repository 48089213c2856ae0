"""python -m services.orders: read the settings, migrate the orders schema, then serve until SIGTERM.

Besides the common settings it reads CUSTOMERS_ADDR and CATALOG_ADDR (host:port),
REQUEST_BUDGET_SECONDS (deadline of a purchase whose caller set none, default 5) and
RECOVERY_INTERVAL_SECONDS / RECOVERY_GRACE_SECONDS (the recovery loop, default 2 and 5): see app.py.
"""

from ..runtime.server import run_service
from .app import APP

if __name__ == "__main__":
    run_service(APP)
