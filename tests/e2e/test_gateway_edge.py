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
                                          "multipart/form-data; boundary=x", "application/jsonx",
                                          "application/json+x", "application/json-seq", None])
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
                        headers={"content-type": "application/grpc", "te": "trailers",
                                 "authorization": f"Bearer {api.staff_token}"})
    assert reply.headers.get("grpc-status") == "12"  # UNIMPLEMENTED, not UNAVAILABLE


def test_the_gateways_own_answers_carry_a_reason(api):
    assert reason_of(api.request("GET", "/v1/nope")) == "NO_SUCH_PATH"
    status, answer, _ = raw_exchange(api.port, b"GET /v1/discs HTTP/1.0\r\nHost: x\r\n\r\n")
    assert status == 426 and b'"REQUEST_REFUSED"' in answer


def test_answers_vary_by_origin(api):
    reply = api.request("GET", "/v1/discs?page_size=1", headers={"origin": "http://localhost:3000"})
    assert "origin" in reply.headers.get("vary", "").lower()


# Numbers, timestamps and repeated fields, in the API's words: the transcoder alone answers them
# in protobuf's ("invalid value 2147483648 for type TYPE_INT32"), or lets the last of two win.

PROTOBUF_WORDS = re.compile(r"TYPE_|google\.protobuf|recordstore\.\w+\.v1|Could not find field")


def disc_body(stock="1", units="1", nanos="0", extra="") -> bytes:
    return ('{"title": "T", "artist": "A", "genre": "G", "release_year": 1972, '
            f'"price": {{"currency_code": "BRL", "units": {units}, "nanos": {nanos}}}, "stock": {stock}{extra}}}').encode()


def refused(reply, field: str, reason: str, words: str = "") -> None:
    assert reply.status == 400, reply.text
    assert reply.headers["content-type"] == "application/json"
    details = {d["@type"].rsplit(".", 1)[1]: d for d in reply.json["details"]}
    [violation] = details["BadRequest"]["field_violations"]
    assert (violation["field"], details["ErrorInfo"]["reason"]) == (field, reason), reply.text
    assert words in reply.json["message"], reply.text
    assert not PROTOBUF_WORDS.search(reply.text), reply.text


INT32_WORDS = "must be a whole number between -2147483648 and 2147483647"
INT64_WORDS = "must be a whole number between -9223372036854775808 and 9223372036854775807"


@pytest.mark.parametrize("body, field, words", [
    (disc_body(stock="2147483648"), "disc.stock", INT32_WORDS + ", got 2147483648"),
    (disc_body(stock="-2147483649"), "disc.stock", INT32_WORDS),
    (disc_body(stock="1.5"), "disc.stock", INT32_WORDS + ", got 1.5"),
    (disc_body(stock="2e-1"), "disc.stock", INT32_WORDS),
    (disc_body(stock="-1e-400"), "disc.stock", INT32_WORDS),  # not zero: a fraction
    (disc_body(stock="1e400"), "disc.stock", INT32_WORDS),
    (disc_body(stock="9999999999999999999999999"), "disc.stock", INT32_WORDS),
    (disc_body(units='"9223372036854775808"'), "disc.price.units", INT64_WORDS),
    (disc_body(units="-9223372036854775809"), "disc.price.units", INT64_WORDS),  # was rounded to -2^63
    (disc_body(units="1e30"), "disc.price.units", INT64_WORDS),
    (disc_body(units='"1e3"'), "disc.price.units", INT64_WORDS),  # a string holds digits only
    (disc_body(units='" 5"'), "disc.price.units", INT64_WORDS),
    (disc_body(units='"5.0"'), "disc.price.units", INT64_WORDS),
    (disc_body(units='""'), "disc.price.units", INT64_WORDS),
    # A double cannot hold it exactly: the transcoder would round it (to 2^63, out of range).
    (disc_body(units="9.2233720368547758e18"), "disc.price.units", "as digits"),
    # Within range, beyond 2^53: refused for the rounding, not said to be out of range.
    (disc_body(units="1e18"), "disc.price.units", 'must be written as digits (a string such as "1000000000000000000")'),
    # Strings of digits as the OpenAPI document's pattern writes them: ^(0|[1-9][0-9]*)$.
    (disc_body(units='"+5"'), "disc.price.units", "without a sign other than -"),
    (disc_body(units='"01"'), "disc.price.units", "nor a leading zero"),
    (disc_body(units='"-0"'), "disc.price.units", "nor a leading zero"),
    (disc_body(units='"0000000000000000000000005"'), "disc.price.units", "nor a leading zero"),
    (disc_body(nanos='"abc"'), "disc.price.nanos", "must be a number"),
    (disc_body(stock="true"), "disc.stock", "must be a number"),
    (disc_body(stock='"3"'), "disc.stock", "must be a number"),
])
def test_a_number_out_of_its_type_or_not_whole_is_refused_in_words(api, body, field, words):
    refused(api.request("POST", "/v1/discs", raw=body), field, "INVALID_FIELD", words)


def test_quantities_out_of_int32_are_refused_naming_the_field(api):
    customer, disc = new_customer(api), new_disc(api)
    body = f'{{"customer_id": "{customer["id"]}", "disc_id": "{disc["id"]}", "quantity": -2147483649}}'
    refused(api.request("POST", "/v1/purchases", raw=body.encode(),
                        authorization=f"Bearer {api.tokens[customer['id']]}"),
            "purchase.quantity", "INVALID_FIELD", INT32_WORDS)
    refused(api.request("POST", f"/v1/discs/{disc['id']}:restock", raw=b'{"quantity": 4294967297}'),
            "quantity", "INVALID_FIELD", INT32_WORDS)


@pytest.mark.parametrize("raw, field, words", [
    ('"state": "active"', "customer.state", "must be one of STATE_UNSPECIFIED, ACTIVE, DEACTIVATED"),
    ('"state": 1.5', "customer.state", INT32_WORDS),
    ('"state": 99999999999', "customer.state", INT32_WORDS),
    ('"create_time": "2026-02-30T00:00:00Z"', "customer.create_time", "2026-02 has no day 30"),
])
def test_enums_and_timestamps_in_a_body_are_refused_in_words(api, raw, field, words):
    body = f'{{"name": "N", "email": "{uuid.uuid4().hex}@example.com", {raw}}}'.encode()
    refused(api.request("POST", "/v1/customers", raw=body), field, "INVALID_FIELD", words)


def test_a_body_timestamp_beyond_9999_is_timestamp_out_of_range(api):
    refused(api.request("POST", "/v1/discs", raw=disc_body(extra=', "create_time": "10000-01-01T00:00:00Z"')),
            "disc.create_time", "TIMESTAMP_OUT_OF_RANGE", "must be between 0001-01-01T00:00:00Z and 9999-12-31")


@pytest.mark.parametrize("body, stock, units", [
    (disc_body(stock="1e3"), 1000, "1"),  # proto3 JSON takes a whole number in any notation
    (disc_body(stock="1.0"), 1, "1"),
    (disc_body(stock="100e-2"), 1, "1"),
    (disc_body(stock="-0"), 0, "1"),
    (disc_body(units="1e3"), 1, "1000"),
    (disc_body(units='"\\u0035"'), 1, "5"),
    (disc_body(extra=', "create_time": "2024-02-29t12:00:00.123456789z"'), 1, "1"),
])
def test_whole_numbers_in_every_notation_still_pass(api, body, stock, units):
    reply = api.request("POST", "/v1/discs", raw=body)
    assert reply.status == 200, reply.text
    assert (reply.json["stock"], reply.json["price"]["units"]) == (stock, units)


@pytest.mark.parametrize("body, field, words", [
    (disc_body(stock="2147483647"), "disc.stock", "1000000"),
    (disc_body(stock="-2147483648"), "disc.stock", ""),
    (disc_body(units='"-9223372036854775808"'), "disc.price", "negative"),
    (disc_body(units="-9223372036854775808"), "disc.price", "negative"),
    (disc_body(units='"9223372036854775807"'), "disc.price", "at most"),
    (disc_body(units="9223372036854775807"), "disc.price", "at most"),
    (disc_body(units="9007199254740992e0"), "disc.price", "at most"),
])
def test_the_bounds_of_each_type_reach_the_service(api, body, field, words):
    """The type's own bounds pass the gateway; the service then applies the API's rules."""
    reply = api.request("POST", "/v1/discs", raw=body)
    assert reply.status == 400, reply.text
    assert "must be a whole number" not in reply.text
    details = {d["@type"].rsplit(".", 1)[1]: d for d in reply.json["details"]}
    assert details["BadRequest"]["field_violations"][0]["field"] == field and words in reply.json["message"]


@pytest.mark.parametrize("raw", ['"stock": 01', '"stock": 1.', '"stock": 1e', '"stock": -', '"stock": 1e+'])
def test_a_number_json_does_not_allow_is_invalid_json(api, raw):
    body = disc_body().decode().replace('"stock": 1', raw).encode()
    reply = api.request("POST", "/v1/discs", raw=body)
    assert reply.status == 400 and reason_of(reply) == "INVALID_JSON", reply.text


@pytest.mark.parametrize("query, field, reason, words", [
    ("start_time=10000-01-01T00:00:00Z", "start_time", "TIMESTAMP_OUT_OF_RANGE", "must be between 0001-01-01T00:00:00Z"),
    ("start_time=0000-01-01T00:00:00Z", "start_time", "TIMESTAMP_OUT_OF_RANGE", "must be between"),
    ("end_time=0001-01-01T00:00:00%2B01:00", "end_time", "TIMESTAMP_OUT_OF_RANGE", "must be between"),
    ("end_time=9999-12-31T23:59:60Z", "end_time", "TIMESTAMP_OUT_OF_RANGE", "must be between"),
    ("startTime=10000-01-01T00:00:00Z", "startTime", "TIMESTAMP_OUT_OF_RANGE", "must be between"),
    ("start_time=2026-13-01T00:00:00Z", "start_time", "INVALID_FIELD", "there is no month 13"),
    ("start_time=2026-02-30T00:00:00Z", "start_time", "INVALID_FIELD", "2026-02 has no day 30"),
    ("start_time=2023-02-29T00:00:00Z", "start_time", "INVALID_FIELD", "2023-02 has no day 29"),
    ("start_time=2026-02-28T24:00:00Z", "start_time", "INVALID_FIELD", "must be an RFC 3339 timestamp"),
    ("start_time=2026-01-01T00:00:00%2B24:00", "start_time", "INVALID_FIELD", "an offset such as -03:00"),
    ("start_time=2026-01-01T00:00:00.1234567891Z", "start_time", "INVALID_FIELD", "at most 9 digits"),
    ("start_time=2026-1-01T00:00:00Z", "start_time", "INVALID_FIELD", "must be an RFC 3339 timestamp"),
    ("start_time=2026-02-28", "start_time", "INVALID_FIELD", "must be an RFC 3339 timestamp"),
    ("start_time=", "start_time", "INVALID_FIELD", "must be an RFC 3339 timestamp"),
    ("start_time.seconds=abc", "start_time.seconds", "INVALID_FIELD", INT64_WORDS),
    ("start_time.seconds=99999999999999999999", "start_time.seconds", "INVALID_FIELD", INT64_WORDS),
    ("start_time.nanos=1.5", "start_time.nanos", "INVALID_FIELD", INT32_WORDS),
    ("page_size=99999999999", "page_size", "INVALID_FIELD", INT32_WORDS + ', got "99999999999"'),
    ("pageSize=ten", "pageSize", "INVALID_FIELD", INT32_WORDS),
    ("foo=1", "foo", "UNKNOWN_FIELD", "is not a parameter of this request"),
    ("customer_id=a&customer_id=b", "customer_id", "DUPLICATE_FIELD", "is given more than once"),
    ("page_size=1&pageSize=2", "pageSize", "DUPLICATE_FIELD", "(as page_size too)"),
    ("start_time=2026-01-01T00:00:00Z&start_time.seconds=5", "start_time.seconds", "DUPLICATE_FIELD", "more than once"),
])
def test_purchase_listing_query_values_are_refused_in_words(api, query, field, reason, words):
    refused(api.request("GET", f"/v1/purchases?{query}"), field, reason, words)


@pytest.mark.parametrize("path, field, reason, words", [
    ("/v1/discs?release_year=1.5", "release_year", "INVALID_FIELD", INT32_WORDS),
    ("/v1/discs?releaseYear=1.5", "releaseYear", "INVALID_FIELD", INT32_WORDS),
    ("/v1/discs?page_size=1e3", "page_size", "INVALID_FIELD", INT32_WORDS),
    ("/v1/discs?artist=a&artist=b", "artist", "DUPLICATE_FIELD", "is given more than once"),
    ("/v1/discs?alt=json", "alt", "UNKNOWN_FIELD", "is not a parameter of this request"),
    ("/v1/discs/{disc}?id=x", "id", "DUPLICATE_FIELD", "is given in the path already"),
    ("/v1/discs/{disc}?foo=x", "foo", "UNKNOWN_FIELD", "is not a parameter"),
    ("/v1/customers?show_deactivated=true&showDeactivated=false", "showDeactivated", "DUPLICATE_FIELD", "as show_"),
    ("/v1/customers?showDeactivated=yes", "showDeactivated", "INVALID_FIELD", "must be true or false"),
])
def test_every_listings_query_values_are_refused_in_words(api, path, field, reason, words):
    disc = new_disc(api)
    refused(api.request("GET", path.format(disc=disc["id"])), field, reason, words)


def test_a_request_id_given_twice_in_the_query_is_refused(api):
    customer, disc = new_customer(api), new_disc(api)
    query = f"request_id={uuid.uuid4()}&request_id={uuid.uuid4()}"
    body = {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1}
    refused(api.request("POST", f"/v1/purchases?{query}", body=body), "request_id", "DUPLICATE_FIELD", "more than once")
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == disc["stock"]  # nothing bought
    refused(api.request("POST", f"/v1/purchases?purchase.quantity=5", body=body), "purchase.quantity",
            "UNKNOWN_FIELD", "is not a parameter of this request")


@pytest.mark.parametrize("query", [
    "start_time=2024-02-29T00:00:00Z", "start_time=0001-01-01T00:00:00Z", "end_time=9999-12-31T23:59:59.999999999Z",
    "start_time=0001-01-01T00:00:00-01:00", "start_time=2026-01-01T00:00:00.5%2B23:59",
    "start_time=2026-02-28T23:59:60Z", "start_time=2026-01-01t00:00:00z&end_time=2027-01-01T00:00:00-03:00",
    "start_time.seconds=5&start_time.nanos=5", "startTime.seconds=5", "page_size=2147483647", "page_size=05",
    "pageSize=5&page_token=", "page_size=0000000000000000000000000005",
])
def test_query_values_within_their_types_still_pass(api, query):
    reply = api.request("GET", f"/v1/purchases?{query}")
    assert reply.status == 200, reply.text


@pytest.mark.parametrize("body, field, words", [
    ('{"name": "a", "name": "b", "email": "%s@example.com"}', "customer.name", "is given more than once"),
    ('{"name": "a", "email": "%s@example.com", "createTime": "2026-01-01T00:00:00Z", '
     '"create_time": "2026-01-01T00:00:00Z"}', "customer.create_time", "(as createTime too)"),
])
def test_a_key_given_twice_in_a_body_is_refused(api, body, field, words):
    email = uuid.uuid4().hex
    refused(api.request("POST", "/v1/customers", raw=(body % email).encode()), field, "DUPLICATE_FIELD", words)
    # Nothing was created: the email is still free.
    assert api.post("/v1/customers", {"name": "a", "email": f"{email}@example.com"}).status == 200


def test_keys_given_twice_anywhere_in_a_body_are_refused(api):
    refused(api.request("POST", "/v1/discs", raw=disc_body(extra=', "release_year": 1973')),
            "disc.release_year", "DUPLICATE_FIELD", "more than once")
    refused(api.request("POST", "/v1/discs", raw=disc_body(extra=', "releaseYear": 1973')),
            "disc.releaseYear", "DUPLICATE_FIELD", "(as release_year too)")
    refused(api.request("POST", "/v1/discs", raw=disc_body(nanos='0, "units": 2')),
            "disc.price.units", "DUPLICATE_FIELD", "more than once")
    disc = new_disc(api)
    refused(api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 1, "id": disc["id"]}),
            "id", "DUPLICATE_FIELD", "is given in the path already")
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == disc["stock"]


def test_no_request_field_of_the_json_api_is_repeated():
    """The duplicate rules refuse a repeated key or parameter: no field the gateway routes may
    take several values (the generator marks one that would, and the query check lets it repeat)."""
    from google.api import annotations_pb2
    from recordstore.catalog.v1 import catalog_pb2
    from recordstore.customers.v1 import customers_pb2
    from recordstore.orders.v1 import orders_pb2

    def repeated(message, seen):
        for field in message.fields:
            if field.message_type is not None and field.message_type.full_name not in seen:
                seen.add(field.message_type.full_name)
                yield from repeated(field.message_type, seen)
            if field.is_repeated:
                yield f"{message.full_name}.{field.name}"

    found = []
    for module in (catalog_pb2, customers_pb2, orders_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.GetOptions().Extensions[annotations_pb2.http].WhichOneof("pattern"):
                    found += repeated(method.input_type, set())
    assert found == []


def test_every_reason_the_gateway_answers_is_documented():
    """A reason in gateway/envoy.yaml's replies (its header check's too) or the body check is in the
    OpenAPI document's error schema and in docs/api.md or the gateway's page (docs/edge.md), and
    the document names none the gateway does not have."""
    from tests.support import REPO_ROOT

    gateway = REPO_ROOT / "gateway"
    config = (gateway / "envoy.yaml").read_text()
    answered = set(re.findall(r"reason: ([A-Z_]+)", config)) | set(re.findall(r'refuse\(.*"([A-Z]+_[A-Z_]+)"', config))
    assert "INVALID_HEADER" in answered
    answered |= set(re.findall(r'"([A-Z]+_[A-Z0-9_]+)"', (gateway / "body_check.lua").read_text()))
    assert {"DUPLICATE_FIELD", "UNKNOWN_FIELD", "TIMESTAMP_OUT_OF_RANGE", "INVALID_FIELD"} <= answered
    document = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    described = document["components"]["schemas"]["google_rpc_Status"]["description"]
    listed = set(re.search(r"before any service: ([A-Z0-9_, ]+)\.", described)[1].split(", "))
    assert listed == answered
    docs = (REPO_ROOT / "docs" / "api.md").read_text() + (REPO_ROOT / "docs" / "edge.md").read_text()
    assert [reason for reason in sorted(answered) if f"`{reason}`" not in docs] == []


def _h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _hpack_literal(headers: list[tuple[str, str]]) -> bytes:
    """Headers as HPACK literals without indexing or Huffman coding."""
    def length(n: int) -> bytes:
        if n < 127:
            return bytes([n])
        out, n = [127], n - 127
        while n >= 128:
            out.append((n & 127) | 128)
            n >>= 7
        return bytes(out + [n])
    return b"".join(b"\x00" + length(len(k)) + k.encode() + length(len(v)) + v.encode() for k, v in headers)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def test_http2_streams_holding_unfinished_bodies_cannot_grow_the_gateway_without_bound(stack, tmp_path_factory):
    """The attack at a small scale: h2c connections each opening 100 streams that send most of a
    declared 64 KiB body and never finish it. Each connection may hold 16 streams x 64 KiB, so
    the gateway grows by about a megabyte a connection (it grew by 6 MiB before), and it keeps
    answering others meanwhile."""
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer)
    try:
        port = int(gateway.url.rsplit(":", 1)[1])
        pid = gateway.process.pid
        before = _rss_kib(pid)
        connections, body = [], b"{" + b" " * 59_999
        for _ in range(12):
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            connections.append(sock)
            try:
                sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2_frame(4, 0, 0, b""))
                for index in range(100):
                    stream = 1 + 2 * index
                    headers = [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                               (":path", f"/v1/discs/{uuid.uuid4()}:restock"), ("content-type", "application/json"),
                               ("authorization", f"Bearer {stack.staff_token}"), ("content-length", "65536")]
                    sock.sendall(_h2_frame(1, 0x4, stream, _hpack_literal(headers)))
                    for at in range(0, len(body), 16384):
                        sock.sendall(_h2_frame(0, 0, stream, body[at:at + 16384]))
            except (TimeoutError, OSError):
                pass  # the gateway stopped reading this connection: what it holds is bounded
        try:
            # What the gateway holds once it has read what it will; the largest of a few looks.
            grown, deadline = 0, time.monotonic() + 3
            while time.monotonic() < deadline:
                grown = max(grown, _rss_kib(pid) - before)
                time.sleep(0.2)
            assert grown < 40 * 1024, f"the gateway grew by {grown} KiB for 12 connections"
            reply = urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/discs?page_size=1", timeout=5)
            assert reply.status == 200
        finally:
            for sock in connections:
                sock.close()
    finally:
        stop([gateway.process])


@pytest.mark.parametrize("path", ["/v1/discs", "/v1/customers?page_size=1", "/v1/discs/{disc}"])
def test_a_get_with_a_body_is_refused_not_read_into_the_request(api, path):
    """The transcoder would read a GET's body into the request, past the body check."""
    disc = new_disc(api)
    url = path.format(disc=disc["id"])
    for framing in ("content-length", "chunked"):
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        try:
            body = b'{"page_size": "x", "page_size": 1, "nope": true}'
            headers = {"authorization": f"Bearer {api.staff_token}", "content-type": "application/json"}
            if framing == "chunked":
                conn.request("GET", url, body=iter([body]), headers=headers, encode_chunked=True)
            else:
                conn.request("GET", url, body=body, headers=headers)
            answer = conn.getresponse()
            reply = json.loads(answer.read())
        finally:
            conn.close()
        assert answer.status == 400, (framing, reply)
        assert reply["details"][0]["reason"] == "BODY_NOT_ALLOWED" and "takes no body" in reply["message"]
    assert api.request("GET", url, headers={"content-length": "0"}).status == 200  # an empty one is none


def _chunked_post(api, path: str, chunks: list[bytes], headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for key, value in {**headers, "transfer-encoding": "chunked",
                           "authorization": f"Bearer {api.staff_token}"}.items():
            conn.putheader(key, value)
        conn.endheaders()
        for chunk in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def test_a_chunked_body_without_a_content_type_is_415_as_with_a_length(api):
    payload = json.dumps({"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"}).encode()
    status, body = _chunked_post(api, "/v1/customers", [payload], {})
    assert status == 415 and body["details"][0]["reason"] == "UNSUPPORTED_MEDIA_TYPE", body
    # An empty chunked body on a POST that takes none is no body.
    customer = new_customer(api)
    status, body = _chunked_post(api, f"/v1/customers/{customer['id']}:deactivate", [], {})
    assert status == 200 and body["state"] == "DEACTIVATED", body


@pytest.mark.parametrize("headers, words", [
    ({"content-type": "application/json; charset=iso-8859-1"}, "UTF-8"),
    ({"content-type": "application/json;charset=\"UTF-16\""}, "UTF-8"),
    ({"content-type": "application/json", "content-encoding": "gzip"}, "compressed"),
    ({"content-type": "application/json", "content-encoding": "br"}, "compressed"),
])
def test_another_charset_or_a_compressed_body_is_415(api, headers, words):
    payload = json.dumps({"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"}).encode()
    for framing in ("content-length", "chunked"):
        if framing == "chunked":
            status, body = _chunked_post(api, "/v1/customers", [payload], headers)
        else:
            reply = api.request("POST", "/v1/customers", raw=payload, headers=headers)
            status, body = reply.status, reply.json
        assert status == 415 and body["details"][0]["reason"] == "UNSUPPORTED_MEDIA_TYPE", (framing, body)
        assert words in body["message"]
    for fine in ("application/json; charset=utf-8", "application/json; charset=UTF-8"):
        reply = api.request("POST", "/v1/customers", body={"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"},
                            headers={"content-type": fine, "content-encoding": "identity"})
        assert reply.status == 200, reply.text


@pytest.mark.parametrize("method, path, allow", [
    ("OPTIONS", "/v1/customers", "GET, POST"), ("OPTIONS", "/v1/discs/{disc}", "GET"),
    ("OPTIONS", "/v1/purchases/{disc}:cancel", "POST"),
    ("HEAD", "/v1/discs", "GET, POST"), ("HEAD", "/v1/discs/{disc}", "GET"), ("HEAD", "/v1/customers", "GET, POST"),
])
@pytest.mark.parametrize("authorization", ["default", None], ids=["with a token", "anonymous"])
def test_head_and_an_options_that_is_no_preflight_are_405_before_any_token_is_asked(api, method, path, allow,
                                                                                    authorization):
    disc = new_disc(api)
    reply = api.request(method, path.format(disc=disc["id"]), authorization=authorization)
    assert reply.status == 405 and reply.headers["allow"] == allow, reply.text
    if method == "OPTIONS":
        assert reason_of(reply) == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_or_options_at_an_unknown_path_is_404_without_a_token(api, method):
    for path in ("/v1/records", "/v2/discs", "/v1/discs/x/y"):
        reply = api.request(method, path, authorization=None)
        assert reply.status == 404, (path, reply.status, reply.text)
        if method == "OPTIONS":
            assert reason_of(reply) == "NO_SUCH_PATH"


def test_a_preflight_at_any_json_path_is_still_answered(api):
    disc = new_disc(api)
    reply = api.request("OPTIONS", f"/v1/discs/{disc['id']}:restock", authorization=None, headers={
        "origin": "http://localhost:5173", "access-control-request-method": "POST"})
    assert reply.status == 200 and reply.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_many_small_headers_are_431_in_their_own_words(api):
    headers = {f"x-h{index}": "v" for index in range(110)}  # ~1 KB in all: under 8 KiB, over 100 lines
    reply = api.request("GET", "/v1/discs", headers=headers)
    assert reply.status == 431 and reason_of(reply) == "HEADERS_TOO_LARGE", reply.text
    assert "more than 100 header lines" in reply.json["message"]
    assert api.request("GET", "/v1/discs", headers=dict(list(headers.items())[:60])).status == 200


@pytest.mark.parametrize("method, path", [("GET", "/v1/records"), ("POST", "/v1/discs/x/y"), ("GET", "/v1/discs:x")])
def test_an_unknown_path_is_404_in_the_apis_words(api, method, path):
    reply = api.request(method, path, body={} if method == "POST" else None)
    assert reply.status == 404 and reason_of(reply) == "NO_SUCH_PATH", reply.text
    assert "Could not resolve" not in reply.text and "docs/openapi.json" in reply.json["message"]


def test_every_4xx_an_operation_answers_is_declared(api):
    """Cancelling a purchase that was not effective is 400 PURCHASE_NOT_EFFECTIVE: the document
    declares it for CancelPurchase, as every operation declares the 4xx it can answer."""
    from tests.support import REPO_ROOT

    document = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    operations = {op["operationId"]: (verb, op) for item in document["paths"].values() for verb, op in item.items()}
    customer, disc = new_customer(api), new_disc(api, stock=0)
    rejected = api.post("/v1/purchases", {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1}).json
    assert rejected["state"] == "REJECTED"
    reply = api.post(f"/v1/purchases/{rejected['id']}:cancel")
    assert reply.status == 400 and reason_of(reply) == "PURCHASE_NOT_EFFECTIVE"
    declared = operations["CancelPurchase"][1]["responses"]
    assert "400" in declared and "PURCHASE_NOT_EFFECTIVE" in declared["400"]["description"]
    for name, (verb, operation) in operations.items():
        codes = set(operation["responses"])
        assert {"200", "400", "404", "408", "431", "401"} <= codes, name
        assert ({"413", "415"} <= codes) == (verb == "post"), name
        assert ("403" in codes) == (operation["security"] == [{"bearer": []}]), name


@pytest.mark.parametrize("query, field", [
    ("artist=%zz", "artist"), ("artist=%", "artist"), ("artist=a%2", "artist"), ("genre=50%", "genre"),
    ("arti%zzst=x", "arti%zzst"),
])
def test_bad_percent_encoding_in_a_query_is_400_naming_the_parameter(api, query, field):
    reply = api.request("GET", f"/v1/discs?{query}")
    assert reply.status == 400 and reason_of(reply) == "INVALID_FIELD", reply.text
    details = {d["@type"].rsplit(".", 1)[1]: d for d in reply.json["details"]}
    assert details["BadRequest"]["field_violations"][0]["field"] == field
    assert "two hex digits" in reply.json["message"]
    assert api.request("GET", "/v1/discs?artist=50%25%20off").status == 200


def test_a_nul_in_a_key_is_escaped_in_the_answer(api):
    reply = api.request("POST", "/v1/customers", raw=b'{"na\\u0000me": "Ana", "email": "nul@example.com"}')
    assert reply.status == 400 and reason_of(reply) == "UNKNOWN_FIELD", reply.text
    assert "\x00" not in reply.text and "\x00" not in reply.json["message"]
    field = reply.json["details"][1]["field_violations"][0]["field"]
    assert "\x00" not in field and "\\u0000" in field


def test_a_preflight_answer_varies_by_origin(api):
    for origin in ("http://localhost:5173", "https://elsewhere.example"):
        reply = api.request("OPTIONS", "/v1/purchases", authorization=None, headers={
            "origin": origin, "access-control-request-method": "POST"})
        assert "origin" in [v.strip().lower() for v in reply.headers.get("vary", "").split(",")], reply.headers


def test_dot_segments_are_resolved_and_the_invalid_path_message_says_what_is_refused(api):
    disc = new_disc(api)
    for path in ("/v1/discs/%2e", "/v1/customers/../discs", "/v1/discs/./"):
        reply = api.request("GET", path, query={"artist": disc["artist"]})
        assert reply.status == 200 and reply.json["discs"][0]["id"] == disc["id"], (path, reply.text)
    assert api.get(f"/v1/discs/x/../{disc['id']}").json["id"] == disc["id"]
    reply = api.request("GET", "/v1/discs/a%2Fb")
    assert reply.status == 400 and reason_of(reply) == "INVALID_PATH"
    assert "dot segment" not in reply.json["message"] and "escaped slash" in reply.json["message"]


def test_output_only_fields_in_a_body_are_ignored_as_the_readme_says(api):
    email = f"{uuid.uuid4().hex}@example.com"
    body = {"name": "Ana", "email": email, "id": str(uuid.uuid4()), "state": "DEACTIVATED",
            "create_time": "2000-01-01T00:00:00Z"}
    reply = api.post("/v1/customers", body)
    assert reply.status == 200, reply.text
    assert (reply.json["state"], reply.json["email"]) == ("ACTIVE", email)
    assert reply.json["id"] != body["id"] and not reply.json["create_time"].startswith("2000")
    reply = api.post("/v1/customers", {"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com", "state": 2**31})
    assert reply.status == 400 and reason_of(reply) == "INVALID_FIELD", reply.text



@pytest.mark.parametrize("tail", ["/", "/.", "//"], ids=["slash", "dot", "two slashes"])
def test_a_path_ending_in_a_slash_meets_every_check_and_limit_of_the_path_without_it(api, stack, tail):
    """The transcoder takes /v1/customers/ for /v1/customers: the gateway's checks and limits,
    which name paths exactly, see it so too (the body check, the sign-up limit, anonymous reads)."""
    reply = api.request("POST", "/v1/discs" + tail, body={"title": "x", "stokc": 3})
    assert reply.status == 400 and reason_of(reply) == "UNKNOWN_FIELD", reply.text
    disc = new_disc(api)
    assert api.request("GET", f"/v1/discs/{disc['id']}" + tail, authorization=None).json["id"] == disc["id"]
    token = f"Bearer {stack.issuer.customer_token(f'slash-{uuid.uuid4().hex[:12]}')}"
    answers = [api.request("POST", "/v1/customers" + tail, body={"name": "Ana", "email": "taken@example.com"},
                           authorization=token).status for _ in range(6)]
    assert answers[-1] == 429, answers  # 5 attempts a minute per subject, whatever the path's tail
