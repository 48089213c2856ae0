"""Server bootstrap shared by the services: grpc.aio, health, reflection, SIGTERM drain.

Each call of a service's methods is served through guard.py: request checks, access, error mapping, the log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import logs, metrics, pagination, tls, tracing
from .access_log import ACCESS_LOG
from .auth import ANYONE, Access, Authenticator, AuthSettings, Rule
from .config import ConfigError, ServerSettings
from .db import CONNECTION_ERRORS, Database
from .errors import NotFound
from .feed import Feed, FeedSettings
from .guard import ADMISSION, Admission, add_to_server
from .migrations import migrate
from .reflection import enable as enable_reflection
from .tls import TlsFiles

log = logging.getLogger(__name__)
# The metadata a call may carry, all of it taken below this and none above. A bearer token is
# most of it, and an identity provider's token with many claims passes gRPC's default soft limit
# (8 KiB), above which calls are refused at random (RESOURCE_EXHAUSTED) on their way to a service
# or on their way on from orders to customers. The gateway lets at most 8 KiB of headers in. A
# token is bound below this (auth.MAX_TOKEN_CHARACTERS), so that a call forwarding it fits too.
MAX_METADATA_BYTES = 16 * 1024
# The largest request any service takes: 64 lookups (BatchGetCustomers), each with a token of at
# most auth.MAX_TOKEN_CHARACTERS, is about 0.9 MiB; gRPC's default would let a client hold 4 MiB
# of a message it never finishes on each stream.
MAX_REQUEST_BYTES = 1024 * 1024
# Streams one connection may hold open. A gateway keeps at most 160 calls in flight to a service
# (its circuit breakers, docs/edge.md) and opens another connection past a server's limit; the
# orders service batches its calls; a feed process serves 32 streams.
MAX_STREAMS_PER_CONNECTION = 256

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
# Anyone may ask whether a server serves (Kubernetes' probes, the gateway's health checks).
HEALTH_ACCESS = Access(HEALTH, {method.name: ANYONE for method in HEALTH.methods}, None)
# At shutdown, once the RPCs in flight are done, RPCs are refused (UNAVAILABLE) until none has
# arrived for QUIET_SECONDS, at most for REFUSING_SECONDS, before gRPC core stops: see guard.Admission.
QUIET_SECONDS = 0.05
REFUSING_SECONDS = 0.5


class GrpcLogLines(logging.Filter):
    """Two things a client can do make grpc's own server code log an ERROR with a traceback, each
    time, and so flood the logs: a metadata value that is not UTF-8 (grpc reads it as Latin-1 and
    logs it whenever the call's metadata is read, one to three times a call), and leaving before
    its answer was sent (ExecuteBatchError). Each is counted (recordstore_grpc_log_events_total)
    and becomes one WARNING line without traceback, at most once every LOG_EVERY_SECONDS per
    event, saying how many were not written since. grpc's other lines pass as they are."""

    LOG_EVERY_SECONDS = 10.0
    _EVENTS = (
        ("Invalid encoding on ", "metadata_not_utf8", "a call's metadata value is not UTF-8, read as Latin-1"),
        ("ExecuteBatchError raised in core by servicer method", "answer_not_sent", "a client left before its answer"),
    )

    def __init__(self) -> None:
        super().__init__()
        for _, event, _ in self._EVENTS:  # each event's series from the start, at 0, for alerts
            metrics.GRPC_LOG_EVENTS.labels(event)
        self._next: dict[str, float] = {}  # per event: when a line may be written again
        self._unwritten: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.msg if isinstance(record.msg, str) else ""
        for start, event, words in self._EVENTS:
            if text.startswith(start):
                metrics.GRPC_LOG_EVENTS.labels(event).inc()
                now = time.monotonic()
                if now < self._next.get(event, 0.0):
                    self._unwritten[event] = self._unwritten.get(event, 0) + 1
                    return False
                self._next[event] = now + self.LOG_EVERY_SECONDS
                unwritten = self._unwritten.pop(event, 0)
                what = record.getMessage()[len(start) :].strip()[:80]
                record.msg = "%s: %s (%d more since the last such line, not written)"
                record.args = (words, what, unwritten)
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                record.exc_info = record.exc_text = None
                return True
        return True


GRPC_LOG_LINES = GrpcLogLines()


class HealthCheck:
    """grpc.health.v1 Check behind the guard, so that a call without its message is answered (the
    library's handler, like any of grpc.aio's unary ones, never answers it): the library's
    servicer's answer for a name this server serves, NOT_FOUND in our words for any other. Its
    Watch (a stream that lasts as long as its client) and List stay the library's handlers."""

    def __init__(self, servicer: health.aio.HealthServicer, names: Sequence[str]):
        self._servicer = servicer
        self._names = frozenset(names)

    async def Check(self, request, context):
        if request.service not in self._names:
            raise NotFound("service", request.service[:100])
        return await self._servicer.Check(request, context)


def health_names(service_names: Sequence[str]) -> list[str]:
    """The names a server's health answers for: the server as a whole (""), and each service."""
    return ["", *service_names]


class ServiceHost:
    """A gRPC server with its health state tied to its database."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        health_servicer,
        service_names: Sequence[str],
        database: Database | None,
        health_interval: float,
    ):
        self.server = server
        self.port = port
        self.health = health_servicer
        self._names = health_names(service_names)
        self._database = database
        self._interval = health_interval
        self._watcher: asyncio.Task | None = None
        self.admission = Admission()

    async def start(self) -> None:
        await self._set_health(SERVING)
        token = ADMISSION.set(self.admission)  # inherited by the serving task, so by every RPC
        try:
            await self.server.start()
        finally:
            ADMISSION.reset(token)
        if self._database is not None:
            self._watcher = asyncio.create_task(self._watch_database(), name="health-watch")

    async def stop(self, grace: float) -> None:
        """Stops taking RPCs, lets in-flight ones finish within `grace` seconds.

        In order: health says NOT_SERVING; new RPCs are refused with UNAVAILABLE while those in
        flight finish (a client answered may send its next call at once: it must be refused, not
        cancelled), and until RPCs stop coming, so that gRPC core holds none it has not handed
        over, which it would cancel; then the listener closes (GOAWAY to every connection) and
        whatever is still in flight gets what is left of the grace period.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._watcher:
            self._watcher.cancel()
        await self.health.enter_graceful_shutdown()
        self.admission.open = False
        self.admission.stopping.set()  # the streams end now, not at the end of the grace period
        while self.admission.in_flight and loop.time() < deadline:
            await asyncio.sleep(QUIET_SECONDS / 5)
        refusing_until = min(deadline, loop.time() + REFUSING_SECONDS)
        while loop.time() < refusing_until and time.monotonic() - self.admission.last_rpc < QUIET_SECONDS:
            await asyncio.sleep(QUIET_SECONDS / 5)
        await self.server.stop(max(0.0, deadline - loop.time()))

    async def _set_health(self, status) -> None:
        for name in self._names:
            await self.health.set(name, status)

    async def _watch_database(self) -> None:
        database = self._database
        assert database is not None  # started only with a database (see start)
        current = SERVING
        while True:
            await asyncio.sleep(self._interval)
            status = SERVING if await database.ping() else NOT_SERVING
            if status != current:
                log.warning(
                    "database %s: health now %s",
                    "reachable" if status == SERVING else "unreachable",
                    health_pb2.HealthCheckResponse.ServingStatus.Name(status),
                )
                await self._set_health(status)
                current = status


def create_server(
    address: str,
    service_names: Sequence[str],
    add_servicers: Callable[[grpc.aio.Server], None],
    database: Database | None,
    health_interval: float = 1.0,
    tls_files: TlsFiles | None = None,
) -> ServiceHost:
    """Builds a server bound to `address` (port 0 picks a free port: see `.port`). Call inside
    the event loop that will run it.

    SO_REUSEPORT (grpc's default) is off: with it, a stale server on the same port would
    silently take part of the traffic. `add_servicers` registers the service's methods (see
    guard.add_to_server). It speaks mutual TLS only (this process's TLS_* files unless
    `tls_files`): a plaintext client is refused.
    """
    logging.getLogger("grpc._cython.cygrpc").addFilter(GRPC_LOG_LINES)  # once: the same filter is not added twice
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
            ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        ]
    )
    add_servicers(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # Check again, behind the guard: a registered handler of a method replaces the one before it.
    add_to_server(server, HealthCheck(health_servicer, health_names(service_names)), HEALTH_ACCESS, only=["Check"])
    enable_reflection(server, [*service_names, HEALTH.full_name])
    port = server.add_secure_port(address, (tls_files or tls.from_env()).server_credentials())
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    return ServiceHost(server, port, health_servicer, service_names, database, health_interval)


async def connect(server: ServerSettings, application_name: str, patience: float = 30.0) -> Database:
    """Opens the pool, waiting up to `patience` seconds for a database that is still starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await Database(
                server.database_url, server.pool_size, application_name, server.database_options
            ).open()
        except (*CONNECTION_ERRORS, TimeoutError) as error:
            if loop.time() >= deadline:
                raise ConfigError(f"cannot reach the database after {patience:.0f}s: {str(error).strip()}") from None
            await asyncio.sleep(0.5)


async def wait_for_shutdown_signal() -> None:
    """Returns at the first SIGTERM or SIGINT; later ones are ignored while the server drains
    (the grace period bounds the drain), so a second signal cannot cut it short."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
        signal.signal(signum, signal.SIG_IGN)


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Built:
    """What a service's build() hands the bootstrap: how to add its servicers to a server, and
    what to close once the server has stopped and before the pool does (work its RPCs left
    running, background tasks, channels to its peers)."""

    add_to: Callable[[grpc.aio.Server], None]
    close: Callable[[], Awaitable[None]] = _nothing


@dataclass(frozen=True)
class CommonSettings:
    """The settings every service reads the same way: where it serves, its database, who may call
    (tokens) and its own certificate. Read whole before anything connects, so a wrong one fails
    the start naming its variable (exit 2), not half way through."""

    server: ServerSettings
    auth: AuthSettings
    tls: TlsFiles
    feed: FeedSettings = field(default_factory=FeedSettings)

    @classmethod
    def from_env(
        cls, default_listen_addr: str, env: Mapping[str, str] = os.environ, default_metrics_addr: str = "off"
    ) -> CommonSettings:
        return cls(
            ServerSettings.from_env(default_listen_addr, env, default_metrics_addr),
            AuthSettings.from_env(env),
            TlsFiles.from_env(env),
            FeedSettings.from_env(env),
        )

    def authenticator(self) -> Authenticator:
        return Authenticator(self.auth, trust_domain=self.tls.trust_domain)


class HasCommonSettings(Protocol):
    @property
    def common(self) -> CommonSettings: ...


S = TypeVar("S", bound=HasCommonSettings)
SERVICES_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceApp(Generic[S]):
    """One service, as its app.py declares it: its name (also its schema, its database role and
    its folder, whose migrations/ it runs), the gRPC service it serves, its settings and how to
    build it from a database and those settings. The process (`run_service`) and the tests start
    it the same way (`start`)."""

    name: str
    service: ServiceDescriptor
    read_settings: Callable[[Mapping[str, str]], S]
    build: Callable[[Database, S], Awaitable[Built]]

    @property
    def migrations_dir(self) -> Path:
        return SERVICES_DIR / self.name / "migrations"


async def serve_behind_guard(
    name: str,
    service: ServiceDescriptor,
    rules: Mapping[str, Rule],
    database: Database,
    common: CommonSettings,
    servicer: Callable[[Feed, Access], object],
    close: Callable[[], Awaitable[None]] = _nothing,
) -> Built:
    """What every service's build() makes the same way: its change feed, started; its Access (the
    `rules` of its access.py, on callers its settings' Authenticator verifies); its servicer
    (`servicer(feed, access)`) served behind the guard. At shutdown `close`, then the feed."""
    feed = Feed(name, database, common.feed)
    await feed.start()
    access = Access(service, rules, common.authenticator())
    served = servicer(feed, access)

    async def close_all() -> None:
        await close()
        await feed.close()

    return Built(lambda server: add_to_server(server, served, access), close_all)


@dataclass(frozen=True)
class Settings:
    """The settings of a service that reads only the common ones (a default_app)."""

    common: CommonSettings


def default_app(
    name: str,
    service: ServiceDescriptor,
    rules: Mapping[str, Rule],
    servicer: Callable[[Database, Feed, Access], Any],
    listen_addr: str,
    metrics_addr: str,
) -> ServiceApp[Settings]:
    """A service that calls no peer and whose one background work is its change feed's (the
    catalog, customers): `servicer(database, feed, access)` served on LISTEN_ADDR (default
    `listen_addr`), its metrics on METRICS_ADDR (default `metrics_addr`)."""

    def read_settings(env: Mapping[str, str]) -> Settings:
        return Settings(CommonSettings.from_env(listen_addr, env, metrics_addr))

    async def build(database: Database, settings: Settings) -> Built:
        return await serve_behind_guard(
            name, service, rules, database, settings.common, lambda feed, access: servicer(database, feed, access)
        )

    return ServiceApp(name, service, read_settings, build)


@dataclass
class Running:
    """A started service: its server and what its build() made."""

    host: ServiceHost
    built: Built

    @property
    def port(self) -> int:
        return self.host.port

    async def stop(self, grace: float) -> None:
        """The listener and the RPCs in flight, then what they left running (the database stays:
        whoever opened it closes it)."""
        await self.host.stop(grace)
        await self.built.close()


async def start(app: ServiceApp[S], settings: S, database: Database, health_interval: float = 1.0) -> Running:
    """Builds `app` on an open, migrated database and starts serving it (port 0 picks a free port)."""
    pagination.sign_with(settings.common.server.page_token_secret)
    built = await app.build(database, settings)
    host = create_server(
        settings.common.server.listen_addr,
        [app.service.full_name],
        built.add_to,
        database,
        health_interval,
        settings.common.tls,
    )
    await host.start()
    return Running(host, built)


async def serve_service(app: ServiceApp[S], settings: S) -> None:
    server = settings.common.server
    database = await connect(server, app.name)
    await asyncio.to_thread(migrate, server.database_url, app.name, app.migrations_dir)
    metrics.serve(server.metrics_addr)  # a port already taken fails the start (exit 2), naming METRICS_ADDR
    running = await start(app, settings, database)
    log.info("%s listening on %s", app.name, server.listen_addr)
    await wait_for_shutdown_signal()
    log.info("%s draining (grace %.0fs)", app.name, server.grace_seconds)
    # The order matters: nothing may still need what is closed after it.
    await running.stop(server.grace_seconds)  # the listener, the RPCs in flight, then what they left running
    await database.close()  # the pool: it opens nothing after this
    ACCESS_LOG.flush()
    tracing.shutdown()  # the spans still batched
    log.info("%s stopped", app.name)


def run_service(app: ServiceApp) -> None:
    """The whole life of a service process: config, migrate, serve, drain on SIGTERM, exit 0."""
    try:
        logs.configure(app.name)  # LOG_LEVEL, LOG_FORMAT (text, or json with trace ids)
    except ConfigError as error:
        logging.basicConfig()
        log.error("%s", error)
        sys.exit(2)
    try:
        settings = app.read_settings(os.environ)  # every setting, before anything connects
        tracing.configure(app.name)
        asyncio.run(serve_service(app, settings))
    except ConfigError as error:
        log.error("%s", error)
        sys.exit(2)
