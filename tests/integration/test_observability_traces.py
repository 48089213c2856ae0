"""With OTEL_EXPORTER_OTLP_ENDPOINT set, the services send their spans to an OTLP collector, and
Envoy too (its OpenTelemetry tracer): here a real OTLP/gRPC receiver (the collector's TraceService,
from opentelemetry-proto) on loopback. One JSON purchase sent with a W3C traceparent gives one
trace: Envoy's span under the client's, orders' server span under Envoy's, its calls to customers and catalog under it, each peer's server
span under the call, the SQL statements under the servers; a ReserveStock that fails is an error."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
import uuid
from concurrent import futures
from types import SimpleNamespace

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from recordstore.catalog.v1 import catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.gateway import start_gateway
from devstack.loopback import free_address, free_port
from devstack.postgres import SERVICES
from devstack.processes import stop
from devstack.stack import ServiceStack
from tests.support import as_customer, channel, create_customer, create_disc, raises_status

SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind
ERROR = 2  # Status.StatusCode


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with the service.name of its resource."""

    def __init__(self):
        self.spans: list = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(a.value.string_value for a in resource_spans.resource.attributes
                               if a.key == "service.name")
                for scope in resource_spans.scope_spans:
                    self.spans.extend(SimpleNamespace(service=service, span=span) for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def of_trace(self, trace_id: bytes) -> list:
        with self._lock:
            return [each for each in self.spans if each.span.trace_id == trace_id]


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while (found := condition()) is None or found is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in time: {condition.__name__}")
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def traced(cluster, issuer, pki, tmp_path_factory):
    receiver = Receiver()
    collector = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, collector)
    port = collector.add_insecure_port("127.0.0.1:0")
    collector.start()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100", "METRICS_ADDR": "off", "LOG_FORMAT": "json"}
    logs = tmp_path_factory.mktemp("logs")
    services = ServiceStack(cluster, {name: free_address() for name in SERVICES},
                            {name: dict(otel) for name in SERVICES}, issuer.env(), log_dir=logs)
    services.start()
    gateway = start_gateway(free_address(), free_port(), services.addresses, issuer, pki,
                            log_path=tmp_path_factory.mktemp("envoy") / "envoy.log",
                            otel_collector=f"127.0.0.1:{port}")
    token = issuer.staff_token(ttl=3600)
    yield SimpleNamespace(
        customers=customers_pb2_grpc.CustomerServiceStub(channel(services.addresses["customers"], token)),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channel(services.addresses["catalog"], token)),
        orders=orders_pb2_grpc.OrderServiceStub(channel(services.addresses["orders"], token)),
        issuer=issuer, tokens={}, receiver=receiver, gateway=gateway, logs=logs,
    )
    stop([gateway.process])
    services.stop()
    collector.stop(1)


def purchase(traced, customer_id: str, disc_id: str) -> tuple[bytes, bytes]:
    """Buys with a traceparent of the test's own; returns its (trace id, parent span id)."""
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    metadata = (*as_customer(traced, customer_id), ("traceparent", f"00-{trace_id.hex()}-{parent_id.hex()}-01"))
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=1),
        request_id=str(uuid.uuid4()))
    traced.orders.CreatePurchase(request, metadata=metadata, timeout=10)
    return trace_id, parent_id


def json_purchase(traced, customer_id: str, disc_id: str) -> tuple[bytes, bytes]:
    """Buys through the gateway, as a JSON client that traces its own calls (its traceparent)."""
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    connection = http.client.HTTPConnection(*traced.gateway.url.removeprefix("http://").split(":"), timeout=10)
    try:
        connection.request(
            "POST", f"/v1/purchases?request_id={uuid.uuid4()}",
            body=json.dumps({"customer_id": customer_id, "disc_id": disc_id, "quantity": 1}),
            headers={"content-type": "application/json", "authorization": as_customer(traced, customer_id)[0][1],
                     "traceparent": f"00-{trace_id.hex()}-{parent_id.hex()}-01"})
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()
    finally:
        connection.close()
    return trace_id, parent_id


def named(spans, service: str, name: str, kind: int):
    matching = [s for s in spans if s.service == service and s.span.name == name and s.span.kind == kind]
    return matching[0].span if len(matching) == 1 else None


def test_one_purchase_is_one_trace_across_every_hop(traced):
    customer = create_customer(traced)
    disc = create_disc(traced, stock=5)
    trace_id, parent_id = json_purchase(traced, customer.id, disc.id)

    def complete():
        spans = traced.receiver.of_trace(trace_id)
        gateway = [s.span for s in spans if s.service == "gateway"]
        wanted = [
            gateway[0] if len(gateway) == 1 else None,
            named(spans, "orders", "recordstore.orders.v1.OrderService/CreatePurchase", SERVER),
            named(spans, "orders", "recordstore.customers.v1.CustomerService/GetCustomer", CLIENT),
            named(spans, "orders", "recordstore.catalog.v1.CatalogService/ReserveStock", CLIENT),
            named(spans, "customers", "recordstore.customers.v1.CustomerService/GetCustomer", SERVER),
            named(spans, "catalog", "recordstore.catalog.v1.CatalogService/ReserveStock", SERVER),
        ]
        return (spans, wanted) if all(wanted) else None

    try:
        wait_for(complete)
    except AssertionError:
        print([(s.service, s.span.name, s.span.kind, s.span.trace_id == trace_id) for s in traced.receiver.spans])
        raise
    spans, (gateway, orders, get_customer, reserve, customers, catalog) = wait_for(complete)
    assert gateway.parent_span_id == parent_id  # the JSON client's traceparent honoured
    assert orders.parent_span_id == gateway.span_id
    assert get_customer.parent_span_id == orders.span_id
    assert reserve.parent_span_id == orders.span_id
    assert customers.parent_span_id == get_customer.span_id
    assert catalog.parent_span_id == reserve.span_id
    # the SQL under each server: named after its query, no values
    sql = {(s.service, s.span.name): s.span for s in spans
           if any(a.key == "db.system" and a.value.string_value == "postgresql" for a in s.span.attributes)}
    assert ("orders", "insert_pending_purchases") in sql  # the batch statement, of one purchase here
    assert ("orders", "settle_purchases") in sql
    assert ("catalog", "reserve_stock") in sql
    assert ("customers", "get_customer") in sql
    servers = {s.span.span_id for s in spans if s.span.kind == SERVER}
    ancestors = {s.span.span_id: s.span.parent_span_id for s in spans}
    for (service, name), span in sql.items():
        parent = span.parent_span_id
        while parent not in servers and parent in ancestors:
            parent = ancestors[parent]
        assert parent in servers, (service, name)
        assert all(disc.id not in a.value.string_value for a in span.attributes), name
    assert {s.service for s in spans} == {"gateway", "orders", "customers", "catalog"}


def test_a_failed_reserve_stock_is_marked_as_an_error(traced):
    customer = create_customer(traced)
    with raises_status(grpc.StatusCode.NOT_FOUND):
        purchase(traced, customer.id, str(uuid.uuid4()))  # no such disc: the catalog answers NOT_FOUND
    spans = wait_for(lambda: [s for s in traced.receiver.spans
                              if s.service == "orders" and s.span.kind == CLIENT
                              and s.span.name.endswith("/ReserveStock") and s.span.status.code == ERROR] or None)
    assert spans[0].span.status.message == "NOT_FOUND"


def test_json_logs_carry_the_trace_id_of_the_rpc_they_were_written_in(traced):
    customer = create_customer(traced)
    disc = create_disc(traced, stock=5)
    trace_id, _ = purchase(traced, customer.id, disc.id)

    def logged():  # the access log is written in batches, every 0.2 s
        lines = (traced.logs / "orders.log").read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
        return [e for e in entries if e.get("trace_id") == trace_id.hex()] or None

    (entry,) = wait_for(logged)
    assert entry["method"].endswith("/CreatePurchase") and entry["code"] == "OK" and len(entry["span_id"]) == 16
