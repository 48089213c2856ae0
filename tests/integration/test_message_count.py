"""A unary call carries one request message. A call that half-closes without it is answered at
once (INVALID_ARGUMENT, MISSING_REQUEST) and leaves nothing behind, however many come; the first
message is the request, and the answer does not wait for the client to stop sending."""

import io

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from bench.h2c import Answer, H2cConnection
from devstack.loopback import free_address
from devstack.processes import start_service, stop, wait_serving
from services.runtime import guard, server
from services.runtime.access_log import ACCESS_LOG
from tests.support import bearer, channel, create_disc, raises_status, tls_as

SERVICES = {
    "customers": customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    "catalog": catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    "orders": orders_pb2.DESCRIPTOR.services_by_name["OrderService"],
}
METHODS = [(name, f"/{service.full_name}/{method.name}") for name, service in SERVICES.items()
           for method in service.methods]
GET_DISC = "/recordstore.catalog.v1.CatalogService/GetDisc"
# What a call without its message once left behind in the catalog: about 1.5 KiB, never given
# back (69 to 194 MiB over some 85,000 calls). 10 MiB over 80,000 calls is far below that, and
# far above what the allocator moves by itself (it stayed within 2 MiB here).
RSS_GROWTH_BOUND = 10 * 2**20


@pytest.mark.parametrize("service, path", METHODS, ids=[path.rsplit(".", 1)[1] for _, path in METHODS])
def test_a_call_without_its_message_is_answered_invalid_argument(stack, service, path):
    # A caller every rule lets in: the staff's token, over the orders service's certificate.
    with channel(stack.addresses[service], identity="orders") as admitted:
        with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="request", reason="MISSING_REQUEST"):
            admitted.stream_unary(path)(iter(()), timeout=10, metadata=bearer(stack.staff_token))


@pytest.mark.parametrize("service", SERVICES)
def test_a_health_check_without_its_message_is_answered_and_with_one_as_the_library_answers(stack, service):
    check = "/grpc.health.v1.Health/Check"
    ask = lambda request: health_pb2.HealthCheckResponse.FromString(  # noqa: E731
        anonymous.unary_unary(check)(request.SerializeToString(), timeout=10))
    with channel(stack.addresses[service]) as anonymous:
        with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="request", reason="MISSING_REQUEST"):
            anonymous.stream_unary(check)(iter(()), timeout=10)
        for name in ("", SERVICES[service].full_name):
            assert ask(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
        with raises_status(grpc.StatusCode.NOT_FOUND, reason="SERVICE_NOT_FOUND"):
            ask(health_pb2.HealthCheckRequest(service="recordstore.nothing.v1.Nothing"))


def test_a_caller_the_rule_refuses_is_answered_so_before_its_missing_message(stack):
    """Who may call is answered first, as for any request: the same call, anonymous, is 401."""
    with channel(stack.addresses["orders"]) as anonymous:
        with raises_status(grpc.StatusCode.UNAUTHENTICATED, reason="TOKEN_MISSING"):
            anonymous.stream_unary("/recordstore.orders.v1.OrderService/GetPurchase")(iter(()), timeout=10)


def test_the_first_message_is_the_request_and_is_answered_while_the_client_still_sends(stack):
    """Two messages and no END_STREAM: the first is answered, the second is never read."""
    disc = create_disc(stack)
    request = catalog_pb2.GetDiscRequest(id=disc.id).SerializeToString()
    with H2cConnection(stack.addresses["catalog"], tls=tls_as("client"), timeout=60) as raw:
        assert raw.calls(GET_DISC, 1_000, messages=(request, request), half_close=False) == {"0": 1_000}


@pytest.mark.slow
def test_100000_calls_without_a_message_are_each_answered_and_leave_memory_flat(stack, cluster, tmp_path):
    address = free_address()
    log = tmp_path / "catalog.log"
    catalog = start_service("catalog", address, cluster.service_url("catalog"), {"LOG_LEVEL": "WARNING"}, log)
    try:
        wait_serving(address, timeout=30, process=catalog.process)
        process = psutil.Process(catalog.process.pid)
        with H2cConnection(address, tls=tls_as("client"), timeout=60) as raw:
            warm = raw.calls(GET_DISC, 20_000)  # the allocator's pools and the metrics children, made once
            after_warming = process.memory_info().rss
            rest = raw.calls(GET_DISC, 80_000)
            grown = process.memory_info().rss - after_warming
    finally:
        stop([catalog.process])
    assert warm + rest == {"3": 100_000}  # each answered, INVALID_ARGUMENT
    assert grown < RSS_GROWTH_BOUND, f"the catalog grew by {grown / 2**20:.1f} MiB over 80,000 calls"
    assert "Traceback" not in log.read_text()


def test_a_health_check_answered_ok_is_counted_but_not_logged_and_one_refused_is_logged(stack):
    """The gateway and the probes ask every second: their OK lines would bury the callers'."""
    ACCESS_LOG.flush()  # the lines of the calls before this test, to where they were going
    saved, stream = dict(ACCESS_LOG.__dict__), io.StringIO()
    ACCESS_LOG.configure("catalog", enabled=True, stream=stream)
    try:
        check = "/grpc.health.v1.Health/Check"
        with channel(stack.addresses["catalog"]) as anonymous:
            ask = anonymous.unary_unary(check)
            ask(health_pb2.HealthCheckRequest().SerializeToString(), timeout=10)
            with raises_status(grpc.StatusCode.NOT_FOUND, reason="SERVICE_NOT_FOUND"):
                ask(health_pb2.HealthCheckRequest(service="recordstore.nothing.v1.Nothing").SerializeToString(),
                    timeout=10)
            create_disc(stack)
        ACCESS_LOG.flush()
    finally:
        ACCESS_LOG.__dict__.update(saved)
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if check in line] == [line for line in lines if "code=NOT_FOUND" in line]
    assert len([line for line in lines if check in line]) == 1
    assert any("CatalogService/CreateDisc code=OK" in line for line in lines)


def test_a_call_whose_request_never_arrives_ends_and_a_message_too_large_is_refused_at_once(stack, monkeypatch):
    """What one connection can hold at a service is bounded: its streams, each message's size, and
    the time a request may take to arrive."""
    monkeypatch.setattr(guard, "REQUEST_READ_SECONDS", 0.5)
    declared_2_mib = b"\x00" + (2 * 1024 * 1024).to_bytes(4, "big") + b"x" * 10
    with H2cConnection(stack.addresses["catalog"], tls=tls_as("client"), timeout=60) as raw:
        # Open, and nothing sent after the headers: answered once the time has passed.
        assert raw.calls(GET_DISC, 20, half_close=False) == {"4": 20}  # DEADLINE_EXCEEDED
        # A message declaring more than the largest request any service takes.
        sent = raw.conn.get_next_available_stream_id()
        raw.conn.send_headers(sent, [(":method", "POST"), (":scheme", "https"), (":path", GET_DISC),
                                     (":authority", "recordstore"), ("content-type", "application/grpc"),
                                     ("te", "trailers")])
        raw.conn.send_data(sent, declared_2_mib, end_stream=False)
        raw.sock.sendall(raw.conn.data_to_send())
        raw.streams[sent] = Answer()
        answer = raw.answers(10)[sent]
        assert answer.grpc_status == 8, (answer.grpc_status, answer.grpc_message)  # RESOURCE_EXHAUSTED
        assert raw.conn.remote_settings.max_concurrent_streams == server.MAX_STREAMS_PER_CONNECTION
