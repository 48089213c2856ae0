"""The gateway as an internet edge: every limit answers in the API's error shape, only JSON is
taken as JSON, and browsers on allowed origins get CORS answers (through the real Envoy)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.request
import uuid

import pytest
import yaml

from devstack.gateway import CorsSettings, render_config
from devstack.processes import stop
from tests.e2e.conftest import JsonClient, launch
from tests.e2e.test_json_api import new_customer, new_disc


def reason_of(reply) -> str:
    body = reply.json
    return next(d["reason"] for d in body["details"] if d["@type"].endswith("ErrorInfo"))


def staff_header(api) -> bytes:
    """The staff's Authorization header line: the gateway checks the token before the body."""
    return f"Authorization: Bearer {api.staff_token}\r\n".encode()


def raw_exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 5) -> tuple[int, bytes, float]:
    """Sends bytes as they are; returns the status, the answer and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer, time.monotonic() - started


def test_a_declared_body_beyond_64_kib_is_413_before_it_is_sent(api):
    head = (b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + staff_header(api) + b"Content-Length: 100000000\r\n\r\n")
    status, answer, took = raw_exchange(api.port, head)
    assert status == 413 and took < 2  # no byte of the body was needed
    assert b"content-type: application/json" in answer and b'"BODY_TOO_LARGE"' in answer


def test_a_streamed_body_beyond_64_kib_is_413_in_our_error_shape(api):
    def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'", "email": "big@example.com"}'

    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("POST", "/v1/customers", body=chunks(), encode_chunked=True,
                     headers={"content-type": "application/json", "authorization": f"Bearer {api.staff_token}"})
        answer = conn.getresponse()
        assert answer.status == 413
        body = json.loads(answer.read())
        assert body["code"] == 3 and "64 KiB" in body["message"]
        assert body["details"][0]["reason"] == "BODY_TOO_LARGE"
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the gateway closed the connection without an answer")
    finally:
        conn.close()
    assert api.get("/v1/discs", page_size=1).status == 200  # and it still serves


def test_a_request_line_beyond_8_kib_is_431_with_a_reason(api):
    reply = api.request("GET", "/v1/discs?artist=" + "a" * 9000)
    assert reply.status == 431 and reply.headers["content-type"] == "application/json"
    assert reason_of(reply) == "HEADERS_TOO_LARGE" and "8 KiB" in reply.json["message"]
    reply = api.request("GET", "/v1/discs?artist=" + "a" * 7000)  # within: the service's own answer
    assert reply.status == 400 and reason_of(reply) == "INVALID_FIELD"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", None])
def test_a_body_that_is_not_json_is_415(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    payload = json.dumps({"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.putrequest("POST", "/v1/customers", skip_accept_encoding=True)
        for key, value in {**headers, "content-length": str(len(payload)),
                           "authorization": f"Bearer {api.staff_token}"}.items():
            conn.putheader(key, value)
        conn.endheaders(payload)
        answer = conn.getresponse()
        body = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 415 and body["details"][0]["reason"] == "UNSUPPORTED_MEDIA_TYPE"


def test_json_in_any_spelling_and_posts_without_a_body_still_work(api):
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        reply = api.request("POST", "/v1/customers", body={"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"},
                            headers={"content-type": content_type})
        assert reply.status == 200, reply.text
    customer = new_customer(api)
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:  # as `curl -X POST` sends it: no body, no Content-Type
        conn.request("POST", f"/v1/customers/{customer['id']}:deactivate",
                     headers={"authorization": f"Bearer {api.staff_token}"})
        answer = conn.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["state"] == "DEACTIVATED"
    finally:
        conn.close()


def test_a_body_sent_too_slowly_is_cut_at_15_seconds_with_408(api):
    head = (b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + staff_header(api) + b"Content-Length: 1000\r\n\r\n")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock:
        sock.sendall(head)
        sock.settimeout(0.5)
        answer = b""
        while time.monotonic() - started < 25 and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b" ")  # one byte a half second: far from the 1,000 declared
                answer += sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 14 < took < 20
    assert b'"REQUEST_TIMEOUT"' in answer


def test_limits_are_those_the_readme_states(gateway):
    with urllib.request.urlopen(f"{gateway.admin_url}/config_dump") as reply:
        dump = json.loads(reply.read())
    text = json.dumps(dump)
    for expected in ('"idle_timeout": "60s"', '"request_timeout": "15s"', '"request_headers_timeout": "10s"',
                     '"stream_idle_timeout": "30s"', '"max_request_headers_kb": 8',
                     '"max_active_downstream_connections": "4096"', '"per_connection_buffer_limit_bytes": 32768',
                     '"max_request_bytes": 65536'):
        assert expected in text, expected


def test_two_thousand_idle_connections_do_not_starve_a_client(api):
    sockets = []
    try:
        for _ in range(2000):
            sockets.append(socket.create_connection(("127.0.0.1", api.port), timeout=5))
        started = time.monotonic()
        assert api.get("/v1/discs", page_size=1).status == 200
        assert time.monotonic() - started < 2
    finally:
        for sock in sockets:
            sock.close()


def test_a_browser_preflight_from_a_local_origin_is_answered(api):
    reply = api.request("OPTIONS", "/v1/purchases", headers={
        "origin": "http://localhost:5173", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization"})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "content-type" in reply.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in reply.headers
    disc = new_disc(api)
    simple = api.request("GET", f"/v1/discs/{disc['id']}", headers={"origin": "http://127.0.0.1:3000"})
    assert simple.status == 200 and simple.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"


def test_another_origin_gets_no_cors_headers(api):
    for reply in (api.request("OPTIONS", "/v1/customers", headers={
                      "origin": "https://evil.example", "access-control-request-method": "POST"}),
                  api.request("GET", "/v1/discs?page_size=1", headers={"origin": "https://evil.example"})):
        assert "access-control-allow-origin" not in reply.headers


def test_configured_origins_and_credentials(stack, tmp_path_factory):
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer,
                     cors=CorsSettings(("https://shop.example.com",), credentials=True))
    try:
        api = JsonClient(int(gateway.url.rsplit(":", 1)[1]), stack.issuer, stack.staff_token, stack.tokens)
        allowed = api.request("OPTIONS", "/v1/discs", headers={
            "origin": "https://shop.example.com", "access-control-request-method": "GET"})
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        local = api.request("OPTIONS", "/v1/discs", headers={
            "origin": "http://localhost:3000", "access-control-request-method": "GET"})
        assert "access-control-allow-origin" not in local.headers  # only what was configured
        lookalike = api.request("GET", "/v1/discs?page_size=1", headers={"origin": "https://shopXexample.com"})
        assert "access-control-allow-origin" not in lookalike.headers
    finally:
        stop([gateway.process])


def json_paths() -> dict[str, set[str]]:
    """Each JSON path of the protos' google.api.http annotations (ids as a regex) and its methods."""
    from google.api import annotations_pb2
    from recordstore.catalog.v1 import catalog_pb2
    from recordstore.customers.v1 import customers_pb2
    from recordstore.orders.v1 import orders_pb2

    paths: dict[str, set[str]] = {}
    for module in (catalog_pb2, customers_pb2, orders_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                rule = method.GetOptions().Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb:
                    template = re.sub(r"\{[^}]+\}", "[^/:]+", getattr(rule, verb))
                    paths.setdefault(template, set()).add(verb.upper())
    return paths


def test_the_405_routes_follow_the_protos(issuer, pki):
    upstreams = {name: "127.0.0.1:1" for name in ("customers", "catalog", "orders")}
    config = yaml.safe_load(render_config("127.0.0.1:2", 3, upstreams, issuer, pki))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    declared = {route["match"]["safe_regex"]["regex"]: set(route["response_headers_to_add"][0]["header"]["value"]
                                                            .split(", "))
                for route in routes if route.get("direct_response", {}).get("status") == 405}
    assert declared == json_paths()


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/v1/discs/{disc}", "GET"), ("DELETE", "/v1/discs/{disc}", "GET"), ("PATCH", "/v1/discs/{disc}", "GET"),
    ("DELETE", "/v1/discs", "GET, POST"), ("GET", "/v1/discs/{disc}:restock", "POST"),
    ("PUT", "/v1/customers", "GET, POST"), ("GET", "/v1/purchases/{disc}:cancel", "POST"),
    ("HEAD", "/v1/purchases", "GET, POST"),
])
def test_a_method_the_path_does_not_take_is_405_with_allow(api, method, path, allow):
    disc = new_disc(api)
    reply = api.request(method, path.format(disc=disc["id"]), body={} if method in ("PUT", "PATCH") else None)
    assert reply.status == 405 and reply.headers["allow"] == allow
    if method != "HEAD":
        assert reply.json["code"] == 12 and reason_of(reply) == "METHOD_NOT_ALLOWED"
    assert api.get(f"/v1/discs/{disc['id']}").status == 200


@pytest.mark.parametrize("header, value", [("grpc-timeout", "zzz"), ("grpc-encoding", "zzz"), ("grpc-timeout", "1n")])
def test_grpc_headers_sent_by_a_json_client_are_not_passed_on(api, header, value):
    reply = api.request("GET", "/v1/discs?page_size=1", headers={header: value})
    assert reply.status == 200, reply.text  # neither a 500 nor a deadline the client chose


def test_a_grpc_call_to_a_json_path_is_unimplemented(api):
    reply = api.request("POST", "/v1/customers", raw=b'{"name": "x"}',
                        headers={"content-type": "application/grpc", "authorization": f"Bearer {api.staff_token}"})
    assert reply.headers.get("grpc-status") == "12"  # UNIMPLEMENTED, not UNAVAILABLE


def test_the_gateways_own_answers_carry_a_reason(api):
    assert reason_of(api.request("GET", "/v1/nope")) == "NO_SUCH_PATH"
    status, answer, _ = raw_exchange(api.port, b"GET /v1/discs HTTP/1.0\r\nHost: x\r\n\r\n")
    assert status == 426 and b'"REQUEST_REFUSED"' in answer


def test_answers_vary_by_origin(api):
    reply = api.request("GET", "/v1/discs?page_size=1", headers={"origin": "http://localhost:3000"})
    assert "origin" in reply.headers.get("vary", "").lower()
