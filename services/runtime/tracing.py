"""Traces, with OpenTelemetry's SDK, configured from its standard environment: on only when
OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, exporting OTLP over gRPC in batches.

OTEL_SERVICE_NAME (default: the service's name), OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
OTEL_TRACES_SAMPLER_ARG are the SDK's own (parentbased_always_on by default: a traced caller decides).
Off, the hot paths test one module-level flag and touch nothing else of OpenTelemetry.

Spans: one SERVER span per RPC (guard.py), its parent taken from the W3C `traceparent` in the
call's metadata; one CLIENT span per call to a peer (outbound.py), whose context is sent on the
same way; one span per SQL statement (db.py), named after its named query, without its values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .queries import NAMES

log = logging.getLogger(__name__)

ENABLED = False  # set once, at start (configure); read on every call
_tracer: trace.Tracer = trace.NoOpTracer()
_provider = None

# A server span is an error only for what is the server's fault (OpenTelemetry's gRPC conventions);
# a client span for any code but OK.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def configure(service_name: str, env: Mapping[str, str] = os.environ) -> bool:
    """Turns tracing on when an OTLP endpoint is set; returns whether it did."""
    global ENABLED, _tracer, _provider
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    # Imported here: a process without an endpoint never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; without either, our name.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "unknown_service")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    _provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER[_ARG]
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = _provider.get_tracer("recordstore")
    ENABLED = True
    log.info("tracing on: %s", env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    return True


def shutdown() -> None:
    """Sends the spans still batched (at the end of the process)."""
    if _provider is not None:
        _provider.shutdown()


def _rpc_attributes(path: str) -> dict[str, str]:
    service, _, method = path.lstrip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


@contextmanager
def server_span(path: str, context) -> Iterator[None]:
    """The RPC's span, child of the caller's (W3C traceparent in the metadata), current inside."""
    parent = propagate.extract(dict(context.invocation_metadata() or ()))
    with _tracer.start_as_current_span(
        path.lstrip("/"),
        context=parent,
        kind=SpanKind.SERVER,
        attributes=_rpc_attributes(path),
        record_exception=False,
        set_status_on_exception=False,
    ):
        yield


def server_code(code: grpc.StatusCode) -> None:
    """Records how the current RPC ended on its span."""
    span = trace.get_current_span()
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_FAULTS:
        span.set_status(Status(StatusCode.ERROR, code.name))


@contextmanager
def client_span(method: str) -> Iterator[tuple[trace.Span, dict[str, str]]]:
    """A call to a peer: its span, and the metadata that carries its context (traceparent)."""
    with _tracer.start_as_current_span(
        method.lstrip("/"),
        kind=SpanKind.CLIENT,
        attributes=_rpc_attributes(method),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield span, carrier


def client_code(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))


def sql_span(sql: str):
    """A statement's span, named after its named query (never its parameters' values); none
    outside a traced RPC (the health check's pings would each be a trace of their own)."""
    if not trace.get_current_span().is_recording():
        return nullcontext()
    name = NAMES.get(sql.removeprefix("BEGIN; "), sql if sql in ("COMMIT", "ROLLBACK", "SELECT 1") else "sql")
    return _tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.system.name": "postgresql", "db.operation.name": name},
    )
