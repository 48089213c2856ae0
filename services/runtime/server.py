"""Server bootstrap shared by the services: health, reflection, interceptor, SIGTERM drain."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .config import ConfigError, ServerSettings
from .db import CONNECTION_ERRORS, Database
from .interceptors import ServiceInterceptor
from .migrations import migrate

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServiceHost:
    """A started-or-not gRPC server with its health state tied to its database."""

    def __init__(self, server: grpc.Server, port: int, health_servicer: health.HealthServicer,
                 service_names: Sequence[str], database: Database | None, health_interval: float):
        self.server = server
        self.port = port
        self.health = health_servicer
        self._names = ["", *service_names]
        self._database = database
        self._interval = health_interval
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch_database, name="health-watch", daemon=True)

    def start(self) -> None:
        self._set_health(SERVING)
        self.server.start()
        self._watcher.start()

    def stop(self, grace: float) -> None:
        """Stops taking RPCs, lets in-flight ones finish within `grace` seconds."""
        self._stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def _set_health(self, status) -> None:
        for name in self._names:
            self.health.set(name, status)

    def _watch_database(self) -> None:
        if self._database is None:
            return
        current = SERVING
        while not self._stopping.wait(self._interval):
            status = SERVING if self._database.ping() else NOT_SERVING
            if status != current and not self._stopping.is_set():
                log.warning("database %s: health now %s", "reachable" if status == SERVING else "unreachable",
                            health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                self._set_health(status)
                current = status


def create_server(
    address: str,
    service_names: Sequence[str],
    add_servicers: Callable[[grpc.Server], None],
    database: Database | None,
    max_workers: int = 16,
    health_interval: float = 1.0,
    reuse_port: bool = False,
) -> ServiceHost:
    """Builds a server bound to `address` (port 0 picks a free port: see `.port`).

    SO_REUSEPORT is off unless asked for: with it, a stale server on the same port would
    silently take part of the traffic.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[ServiceInterceptor()],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    add_servicers(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    return ServiceHost(server, port, health_servicer, service_names, database, health_interval)


def connect(url: str, size: int, application_name: str, patience: float = 30.0) -> Database:
    """Opens the pool, waiting up to `patience` seconds for a database that is still starting."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return Database(url, size, application_name)
        except CONNECTION_ERRORS as error:
            if time.monotonic() >= deadline:
                raise ConfigError(f"cannot reach the database after {patience:.0f}s: {str(error).strip()}") from None
            time.sleep(0.5)


def wait_for_shutdown_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def run_service(
    name: str,
    default_listen_addr: str,
    schema: str,
    migrations_dir: Path,
    service_names: Sequence[str],
    build: Callable[[Database], Callable[[grpc.Server], None]],
) -> None:
    """The whole life of a service process: config, migrate, serve, drain on SIGTERM, exit 0."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    try:
        settings = ServerSettings.from_env(default_listen_addr)
        database = connect(settings.database_url, settings.pool_size, name)
        migrate(database, schema, migrations_dir)
        host = create_server(settings.listen_addr, service_names, build(database), database,
                             max_workers=settings.pool_size)
    except ConfigError as error:
        log.error("%s", error)
        sys.exit(2)
    host.start()
    log.info("%s listening on %s", name, settings.listen_addr)
    wait_for_shutdown_signal()
    log.info("%s draining (grace %.0fs)", name, settings.grace_seconds)
    host.stop(settings.grace_seconds)
    database.close()
    log.info("%s stopped", name)
