"""python -m services.catalog: migrate the catalog schema, then serve until SIGTERM."""

from pathlib import Path

from ..runtime.server import run_service
from .servicer import SERVICE_NAME, build

if __name__ == "__main__":
    run_service(
        name="catalog",
        default_listen_addr="127.0.0.1:50052",
        schema="catalog",
        migrations_dir=Path(__file__).with_name("migrations"),
        service_names=[SERVICE_NAME],
        build=build,
    )
