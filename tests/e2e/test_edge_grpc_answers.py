"""A gRPC (or HTTP/2) client's own mistakes, through the real Envoy to the real services: each is
answered with the status that names it, in our words, never INTERNAL or UNKNOWN, and never in
Envoy's words (issue 20, section 5). docs/edge.md lists them."""

from __future__ import annotations

import socket
import uuid

import pytest
from recordstore.catalog.v1 import catalog_pb2

from bench.h2c import H2cConnection, call_once, grpc_frame

GET_DISC = "/recordstore.catalog.v1.CatalogService/GetDisc"
INVALID_ARGUMENT, UNIMPLEMENTED, RESOURCE_EXHAUSTED = 3, 12, 8
ENVOY_WORDS = ("upstream", "reset reason", "overflow", "Jwt", "Jwks", "envoy")


def address_of(api) -> str:
    return f"127.0.0.1:{api.port}"


def get_disc(disc_id: str | None = None) -> bytes:
    return grpc_frame(catalog_pb2.GetDiscRequest(id=disc_id or str(uuid.uuid4())).SerializeToString())


def assert_refused(answer, code: int, *words: str) -> None:
    assert answer.reset is None, f"the stream was reset ({answer.reset}) instead of answered"
    assert answer.grpc_status == code, (answer.grpc_status, answer.grpc_message)
    for word in words:
        assert word in answer.grpc_message, answer.grpc_message
    assert not any(word in answer.grpc_message for word in ENVOY_WORDS), answer.grpc_message
    assert not answer.grpc_message.startswith("{"), "the JSON error shape, not words"


def test_a_well_formed_call_still_reaches_the_service(api):
    answer = call_once(address_of(api), GET_DISC, body=get_disc())
    assert answer.grpc_status == 5 and "not found" in answer.grpc_message  # the catalog's own NOT_FOUND


@pytest.mark.parametrize("path", [
    "/recordstore.catalog.v1.CatalogService%2FGetDisc",  # an escaped slash
    GET_DISC + "%00",  # a NUL
    GET_DISC + "#x",  # a fragment, which no request path has
    "/recordstore.catalog.v1.CatalogService%5CGetDisc",  # an escaped backslash
], ids=["escaped slash", "nul", "fragment", "escaped backslash"])
def test_a_path_the_api_does_not_take_is_invalid_argument(api, path):
    assert_refused(call_once(address_of(api), path, body=get_disc()), INVALID_ARGUMENT, "the path")


def test_a_method_path_ending_in_a_slash_is_the_method(api):
    answer = call_once(address_of(api), GET_DISC + "/", body=get_disc())
    assert answer.grpc_status == 5 and "not found" in answer.grpc_message  # the catalog's own NOT_FOUND


def test_a_call_without_te_trailers_is_invalid_argument_and_reaches_no_service(api):
    for _ in range(3):  # more than outlier detection's consecutive local failures
        assert_refused(call_once(address_of(api), GET_DISC, body=get_disc(), te=None), INVALID_ARGUMENT, "te: trailers")
    answer = call_once(address_of(api), GET_DISC, body=get_disc())
    assert answer.grpc_status == 5, (answer.grpc_status, answer.grpc_message)  # the catalog is still served


def test_a_message_beyond_64_kib_is_resource_exhausted(api):
    message = catalog_pb2.GetDiscRequest(id="x" * 70_000).SerializeToString()
    assert_refused(call_once(address_of(api), GET_DISC, body=grpc_frame(message)), RESOURCE_EXHAUSTED, "64 KiB")


@pytest.mark.parametrize("headers, words", [
    ([("x_forwarded_for", "10.0.0.1")], "underscores"),
    ([("grpc-timeout", "abc")], "grpc-timeout"),
    ([("grpc-timeout", "123456789S")], "grpc-timeout"),  # nine digits: gRPC allows eight
    ([("grpc-timeout", "5")], "grpc-timeout"),  # no unit
    ([("x-trace-bin", "!!!")], "x-trace-bin"),
    ([("x-trace-bin", "QUJDRA=,QQ")], "x-trace-bin"),  # padding inside a value
], ids=["underscore", "grpc-timeout letters", "grpc-timeout nine digits", "grpc-timeout no unit",
        "-bin not base64", "-bin misplaced padding"])
def test_a_malformed_header_is_invalid_argument_naming_it(api, headers, words):
    assert_refused(call_once(address_of(api), GET_DISC, headers, body=get_disc()), INVALID_ARGUMENT, words)


@pytest.mark.parametrize("headers", [
    [("grpc-timeout", "5S")], [("grpc-timeout", "99999999m")], [("grpc-encoding", "identity")],
    [("x-trace-bin", "QUJDRA==,QUJD")], [("x-trace-bin", "QUJDRA")], [("x-trace-bin", "")],
    # Values grpc's core misreads (INTERNAL, "illegal base64 encoding"): no service reads binary
    # metadata, so the gateway passes none on.
    [("x-trace-bin", "QUI")], [("x-trace-bin", "QUJDREU=")], [("x-trace-bin", "QUJDREVGRw")],
], ids=["timeout", "eight digits", "identity", "padded -bin values", "unpadded -bin", "empty -bin",
        "two bytes unpadded", "five bytes padded", "seven bytes unpadded"])
def test_well_formed_grpc_headers_pass(api, headers):
    answer = call_once(address_of(api), GET_DISC, headers, body=get_disc())
    assert answer.grpc_status == 5, (answer.grpc_status, answer.grpc_message)  # the service's own answer


def test_an_encoding_the_services_cannot_decode_is_unimplemented_with_what_they_take(api):
    answer = call_once(address_of(api), GET_DISC, [("grpc-encoding", "br")], body=grpc_frame(b"\x00", compressed=True))
    assert_refused(answer, UNIMPLEMENTED, "br", "gzip")
    assert answer.headers["grpc-accept-encoding"] == "identity,deflate,gzip"


def test_a_message_flagged_compressed_without_an_encoding_is_invalid_argument(api):
    message = catalog_pb2.GetDiscRequest(id=str(uuid.uuid4())).SerializeToString()
    answer = call_once(address_of(api), GET_DISC, body=grpc_frame(message, compressed=True))
    assert_refused(answer, INVALID_ARGUMENT, "compressed", "grpc-encoding")


def test_a_gzip_message_still_reaches_the_service(api):
    import gzip

    message = gzip.compress(catalog_pb2.GetDiscRequest(id=str(uuid.uuid4())).SerializeToString())
    answer = call_once(address_of(api), GET_DISC, [("grpc-encoding", "gzip")], body=grpc_frame(message, compressed=True))
    assert answer.grpc_status == 5, (answer.grpc_status, answer.grpc_message)


@pytest.mark.parametrize("path", ["/recordstore.catalog.v1.CatalogService/ReserveStock",
                                  "/recordstore.catalog.v1.CatalogService/Nonsense", "/grpc.health.v1.Health/Check"])
def test_a_method_that_is_not_public_is_unimplemented_without_a_token(api, path):
    assert_refused(call_once(address_of(api), path, body=get_disc()), UNIMPLEMENTED, "no such")


def test_a_token_refused_by_the_gateway_is_unauthenticated_in_our_words(api, stack):
    expired = stack.issuer.mint("staff", ["staff"], iat=1_700_000_000, exp=1_700_000_060)
    answer = call_once(address_of(api), "/recordstore.catalog.v1.CatalogService/CreateDisc",
                       [("authorization", f"Bearer {expired}")], body=grpc_frame(b""))
    assert_refused(answer, 16, "expired")


def test_json_clients_get_the_same_header_mistakes_in_the_error_shape(api):
    for header in ({"x_forwarded_for": "10.0.0.1"}, {"x-trace-bin": "!!!"}):
        reply = api.request("GET", "/v1/discs", headers=header)
        assert reply.status == 400, reply.text
        assert reply.json["code"] == 3 and reply.json["details"][0]["reason"] == "INVALID_HEADER"
        assert next(iter(header)) in reply.json["message"]


def test_an_http2_json_call_with_an_underscore_header_is_answered_not_reset(api):
    with H2cConnection(address_of(api)) as connection:
        stream = connection.call("/v1/discs", [("x_a", "1")], method="GET", content_type="application/json")
        answer = connection.answers(10)[stream]
    assert answer.reset is None and answer.status == 400
    assert b'"INVALID_HEADER"' in answer.data


@pytest.mark.parametrize("coding", ["chunked, chunked", "gzip, chunked"])
def test_a_transfer_encoding_other_than_one_chunked_is_400_not_501(api, coding):
    head = (f"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api.staff_token}\r\nTransfer-Encoding: {coding}\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = b""
        while not answer.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"INVALID_REQUEST"' in answer and b"Transfer-Encoding" in answer
