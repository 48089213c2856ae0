"""python -m services.customers: read the settings, migrate the customers schema, then serve until SIGTERM."""

from ..runtime.server import run_service
from .app import APP

if __name__ == "__main__":
    run_service(APP)
