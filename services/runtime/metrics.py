"""Prometheus metrics every service exports, and the HTTP endpoint that serves them (METRICS_ADDR).

The gRPC names are go-grpc-prometheus's (grpc_server_handled_total, grpc_server_handling_seconds,
grpc_client_...), which the usual gRPC dashboards and alerts expect. The hot path never builds a
label dict: each method gets its children bound once (`server_method`, `client_method`), and a
call costs a few counter increments and one histogram observation.

One registry per process: the three services are separate processes in production, and where the
tests run them in one process the `grpc_service` and `pool` labels still tell them apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

from .config import ConfigError

log = logging.getLogger(__name__)

# A `_created` series beside every counter doubles what a scrape carries, for nothing a dashboard reads.
prometheus_client.disable_created_metrics()

# Latency buckets (seconds) around what an RPC here takes: ~1 ms for a read, tens of ms for a purchase.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHOD = ("grpc_type", "grpc_service", "grpc_method")

SERVER_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _METHOD)
SERVER_HANDLED = Counter("grpc_server_handled_total", "RPCs completed on the server, by code.", (*_METHOD, "grpc_code"))
SERVER_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time the server took to answer an RPC.", _METHOD, buckets=LATENCY_BUCKETS
)
# What grpc's own server code logs when a client causes it (runtime.server.GrpcLogLines).
GRPC_LOG_EVENTS = Counter(
    "recordstore_grpc_log_events_total",
    "Lines grpc's server code logged for something a client did, by event: metadata_not_utf8 (once each "
    "time a call's metadata is read, 1 to 3 a call), answer_not_sent (the client left first).",
    ("event",),
)
CLIENT_STARTED = Counter("grpc_client_started_total", "RPCs this service started to a peer.", _METHOD)
CLIENT_HANDLED = Counter(
    "grpc_client_handled_total", "RPCs to a peer completed, by the code seen.", (*_METHOD, "grpc_code")
)
CLIENT_SECONDS = Histogram(
    "grpc_client_handling_seconds",
    "Time a peer took to answer, as this service saw it.",
    _METHOD,
    buckets=LATENCY_BUCKETS,
)

POOL_SIZE = Gauge("db_pool_connections", "Connections the database pool may hold open.", ("pool",))
POOL_IN_USE = Gauge("db_pool_connections_in_use", "Connections checked out of the pool.", ("pool",))
POOL_WAITING = Gauge("db_pool_waiting", "Units of work waiting for a free connection.", ("pool",))
POOL_WAIT = Histogram(
    "db_pool_wait_seconds", "Time a unit of work waited for a connection.", ("pool",), buckets=LATENCY_BUCKETS
)

PURCHASES = Counter(
    "recordstore_purchases_total",
    "Purchases settled, by outcome (effective, not_effective, cancelled, failed).",
    ("outcome",),
)
RESERVATIONS = Counter("recordstore_reservations_total", "Stock reservations made, by outcome.", ("outcome",))
RECOVERY_BACKLOG = Gauge(
    "recordstore_recovery_backlog_purchases", "Purchases pending, cancelling or failing, at the last recovery round."
)
RECOVERY_OLDEST = Gauge(
    "recordstore_recovery_backlog_oldest_seconds",
    "Age of the oldest unfinished purchase at the last recovery round (0 when none).",
)
RECOVERY_GAVE_UP = Counter(
    "recordstore_recovery_gave_up_total",
    "Cancelling or failing purchases whose units the recovery loop could not give back in MAX_ATTEMPTS "
    "rounds, by state: each is left to an operator (it stays in the backlog).",
    ("state",),
)

# Every code, so that a method's children are all bound before its first call.
_CODES = tuple(grpc.StatusCode)


class MethodMetrics:
    """One method's children, bound once: `started`, `handled[code]`, `seconds`."""

    __slots__ = ("handled", "seconds", "started")

    def __init__(self, started: Counter, handled: Counter, seconds: Histogram, path: str):
        service, _, method = path.lstrip("/").rpartition("/")
        labels = ("unary", service, method)
        self.started = started.labels(*labels)
        self.handled = {code: handled.labels(*labels, code.name) for code in _CODES}
        self.seconds = seconds.labels(*labels)

    def done(self, code: grpc.StatusCode, seconds: float) -> None:
        self.handled[code].inc()
        self.seconds.observe(seconds)


def server_method(path: str) -> MethodMetrics:
    """`path` is /package.Service/Method."""
    return MethodMetrics(SERVER_STARTED, SERVER_HANDLED, SERVER_SECONDS, path)


def client_method(path: str) -> MethodMetrics:
    return MethodMetrics(CLIENT_STARTED, CLIENT_HANDLED, CLIENT_SECONDS, path)


def watch_pool(name: str, size: int, in_use: Callable[[], float], waiting: Callable[[], float]) -> Histogram:
    """Registers a pool's gauges, read at scrape time; returns its wait-time histogram child."""
    POOL_SIZE.labels(name).set(size)
    POOL_IN_USE.labels(name).set_function(in_use)
    POOL_WAITING.labels(name).set_function(waiting)
    return POOL_WAIT.labels(name)


def serve(address: str | None):
    """Serves /metrics on `address` (host:port; port 0 picks one) in a daemon thread; None: nothing.
    Returns the HTTP server (its `server_port`), or None."""
    if address is None:
        return None
    host, _, port = address.rpartition(":")
    try:
        server, _thread = prometheus_client.start_http_server(int(port), addr=host.strip("[]"))
    except OSError as error:
        raise ConfigError(f"METRICS_ADDR={address!r}: cannot serve metrics there ({error.strerror})") from None
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
