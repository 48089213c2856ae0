"""python -m services.customers: migrate the customers schema, then serve until SIGTERM."""

from pathlib import Path

from ..runtime.server import run_service
from .servicer import SERVICE_NAME, build

if __name__ == "__main__":
    run_service(
        name="customers",
        default_listen_addr="127.0.0.1:50051",
        schema="customers",
        migrations_dir=Path(__file__).with_name("migrations"),
        service_names=[SERVICE_NAME],
        build=build,
    )
