"""A hostile corpus against every operation, through the gateway and straight over gRPC.

Whatever a client sends, the answer is never a server error: a 4xx (over gRPC a client-error
code) that says what was wrong, or a success. After the whole corpus the services still answer,
nothing is left pending, and stock and purchases still agree (devstack.invariant).
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

import grpc
import pytest
from google.protobuf import descriptor_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from devstack.invariant import check
from tests.e2e.test_json_api import new_customer, new_disc
from tests.support import channel, create_customer

pytestmark = pytest.mark.slow

# Strings a hostile client sends in any text field, filter or id.
STRINGS = [
    "", " ", "a\x00b", "\x00", "x" * 5000, "\u200b\u200b", "ab\u202ecd", "\ufeff", "\n\r\t",
    "' OR 1=1 --", "%", "_", "\\", "%00", "${jndi:ldap://127.0.0.1/a}", "🎸" * 100, "João",
    "\U0010ffff", "00000000-0000-0000-0000-000000000000", "../../etc/passwd",
]
# Integers for int32 and int64 fields, in and out of every range.
INTEGERS = [-1, 0, 1, 999, 1001, 2**31 - 1, -(2**31), 2**31, 2**63 - 1, -(2**63), 10**17]
# Numbers as a JSON body may write them: beyond each type, not whole, in every notation.
NUMBER_LITERALS = ["2147483648", "-2147483649", "1.5", "1e3", "1e30", "1e400", "-1e-400", "2e-1", "1.0", "-0",
                   "9223372036854775808", "-9223372036854775809", "9.2233720368547758e18", '"9223372036854775808"',
                   '"-9223372036854775808"', '"1e3"', '" 5"', '"5.0"', '"abc"', '""', "true", '"3"', "[1]", "{}"]
# Timestamps as a query string may carry them, in both forms.
TIMESTAMPS = [
    ("start_time", "0000-01-01T00:00:00Z"), ("start_time", "9999-12-31T23:59:59Z"),
    ("start_time", "10000-01-01T00:00:00Z"), ("start_time", "not a time"), ("end_time", "1970-01-01T00:00:00Z"),
    ("start_time", "2026-13-01T00:00:00Z"), ("start_time", "2026-02-30T00:00:00Z"), ("end_time", "2026-02-28T24:00:00Z"),
    ("start_time", "0001-01-01T00:00:00+01:00"), ("end_time", "9999-12-31T23:59:60Z"), ("startTime", "2026-02-30t00:00:00z"),
    ("start_time.seconds", "253402300800"), ("start_time.seconds", "-62135596801"),
    ("start_time.nanos", "-1"), ("start_time.nanos", "2000000000"), ("end_time.seconds", str(2**63 - 1)),
]
CLIENT_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE,
                # The stock reservations are the orders service's alone, whatever the request.
                grpc.StatusCode.PERMISSION_DENIED}


# What a client must never read: the transcoder's protobuf names instead of the API's words.
PROTOBUF_WORDS = re.compile(r"TYPE_[A-Z0-9]+|google\.protobuf\.|Could not find field")


def assert_client_error_or_success(reply, what):
    assert reply.status < 500, f"{what}: {reply.status} {reply.text[:300]}"
    if 400 <= reply.status and reply.headers.get("content-type") == "application/json":
        body = reply.json
        assert body.get("message"), f"{what}: an error without a message: {reply.text[:300]}"
        assert not PROTOBUF_WORDS.search(body["message"]), f"{what}: protobuf's words: {reply.text[:300]}"


def json_cases(customer_id, disc_id, purchase_id):
    """(method, path with query, body) of the corpus through the gateway."""
    disc = {"title": "T", "artist": "A", "genre": "G", "release_year": 1972,
            "price": {"currency_code": "BRL", "units": 1, "nanos": 0}, "stock": 1}
    customer = {"name": "N", "email": f"{uuid.uuid4().hex}@example.com"}
    for text in STRINGS:
        q = quote(text, safe="")
        for field in ("title", "artist", "genre"):
            yield "POST", "/v1/discs", {**disc, field: text}
            yield "GET", f"/v1/discs?{field}={q}", None
        yield "POST", "/v1/discs", {**disc, "price": {**disc["price"], "currency_code": text}}
        for field in ("name", "email", "document", "phone"):
            yield "POST", "/v1/customers", {**customer, "email": f"{uuid.uuid4().hex}@example.com", field: text}
        for path in ("/v1/discs/{}", "/v1/customers/{}", "/v1/purchases/{}", "/v1/purchases/{}:cancel",
                     "/v1/customers/{}:deactivate", "/v1/discs/{}:restock"):
            method = "POST" if ":" in path else "GET"
            yield method, path.format(q), ({"quantity": 1} if path.endswith("restock") else {} if method == "POST"
                                           else None)
        for field in ("customer_id", "disc_id"):
            ids = {"customer_id": customer_id, "disc_id": disc_id, field: text}
            yield "POST", "/v1/purchases", {**ids, "quantity": 1}
        yield "POST", f"/v1/purchases?request_id={q}", {"customer_id": customer_id, "disc_id": disc_id,
                                                         "quantity": 1}
        for listing in ("/v1/discs", "/v1/customers", "/v1/purchases"):
            yield "GET", f"{listing}?page_token={q}", None
        yield "GET", f"/v1/purchases?customer_id={q}", None
    for number in INTEGERS:
        yield "POST", "/v1/discs", {**disc, "release_year": number}
        yield "POST", "/v1/discs", {**disc, "stock": number}
        yield "POST", "/v1/discs", {**disc, "price": {**disc["price"], "units": number}}
        yield "POST", "/v1/discs", {**disc, "price": {**disc["price"], "nanos": number}}
        yield "POST", f"/v1/discs/{disc_id}:restock", {"quantity": number}
        yield "POST", "/v1/purchases", {"customer_id": customer_id, "disc_id": disc_id, "quantity": number}
        for listing in ("/v1/discs", "/v1/customers", "/v1/purchases"):
            yield "GET", f"{listing}?page_size={number}", None
        yield "GET", f"/v1/discs?release_year={number}", None
    for name, value in TIMESTAMPS:
        yield "GET", f"/v1/purchases?{name}={quote(value, safe='')}", None
    for value in ("99999999999", "1.5", "1e3", "-2147483649", "", "ten"):
        for listing, field in (("/v1/discs", "page_size"), ("/v1/discs", "release_year"), ("/v1/customers", "pageSize"),
                               ("/v1/purchases", "start_time.seconds"), ("/v1/purchases", "start_time.nanos")):
            yield "GET", f"{listing}?{field}={quote(value, safe='')}", None
    # Parameters given twice, unknown, or bound by the path already.
    for query in ("artist=a&artist=b", "page_size=1&pageSize=2", "foo=1", "alt=json", "id=x"):
        yield "GET", f"/v1/discs?{query}", None
        yield "GET", f"/v1/discs/{disc_id}?{query}", None
    for raw in ("%ff%fe", "%c0%80", "%ed%a0%80", "a%00b"):
        for field in ("artist", "title", "genre"):
            yield "GET", f"/v1/discs?{field}={raw}", None
        yield "GET", f"/v1/purchases?customer_id={raw}", None
        yield "GET", f"/v1/discs?page_token={raw}", None
    yield "POST", f"/v1/purchases/{purchase_id}:cancel", {}
    yield "POST", f"/v1/purchases/{purchase_id}:cancel", {}


def raw_json_cases(customer_id, disc_id):
    """(path, body bytes) written by hand: number literals json.dumps would never write, keys twice."""
    def disc(stock="1", units="1", nanos="0", extra=""):
        return ('{"title": "T", "artist": "A", "genre": "G", "release_year": 1972, "price": {"currency_code": "BRL", '
                f'"units": {units}, "nanos": {nanos}}}, "stock": {stock}{extra}}}').encode()
    for literal in NUMBER_LITERALS:
        yield "/v1/discs", disc(stock=literal)
        yield "/v1/discs", disc(units=literal)
        yield "/v1/discs", disc(nanos=literal)
        yield f"/v1/discs/{disc_id}:restock", f'{{"quantity": {literal}}}'.encode()
        yield "/v1/purchases", f'{{"customer_id": "{customer_id}", "disc_id": "{disc_id}", "quantity": {literal}}}'.encode()
        yield "/v1/customers", f'{{"name": "N", "email": "{uuid.uuid4().hex}@example.com", "state": {literal}}}'.encode()
    for extra in (', "stock": 2', ', "releaseYear": 1', ', "create_time": "10000-01-01T00:00:00Z"',
                  ', "create_time": "2026-02-30T00:00:00Z"', ', "updateTime": "0000-01-01T00:00:00Z"'):
        yield "/v1/discs", disc(extra=extra)
    yield "/v1/discs", disc(nanos='0, "nanos": 1')
    yield f"/v1/discs/{disc_id}:restock", f'{{"quantity": 1, "id": "{disc_id}"}}'.encode()


def test_no_json_request_answers_a_server_error(api, stack):
    customer, disc = new_customer(api), new_disc(api, stock=50)
    bought = api.post("/v1/purchases", {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 2}).json
    sent = 0
    for method, path, body in json_cases(customer["id"], disc["id"], bought["id"]):
        reply = api.request(method, path, body=body)
        assert_client_error_or_success(reply, f"{method} {path[:120]} {json.dumps(body)[:120]}")
        sent += 1
    for path, raw in raw_json_cases(customer["id"], disc["id"]):
        assert_client_error_or_success(api.request("POST", path, raw=raw), f"POST {path} {raw[:160]!r}")
        sent += 1
    # Bodies that are not valid UTF-8, or not JSON at all.
    for raw in (b'{"name": "\xff\xfe", "email": "a@example.com"}', b"\xc0\x80", b"\x00" * 64, b"[" * 5000):
        for path in ("/v1/customers", "/v1/discs", "/v1/purchases"):
            assert_client_error_or_success(api.request("POST", path, raw=raw), f"POST {path} {raw[:40]!r}")
            sent += 1
    assert sent > 600
    # Still serving, nothing left half-done, stock and purchases agree on what the corpus touched.
    assert api.get(f"/v1/discs/{disc['id']}").status == 200
    report = check(stack.cluster.admin_url, [disc["id"]])
    assert report.ok, [str(v) for v in report.violations]


def raw_call(channel, path: str, payload: bytes, timeout: float = 10):
    """Sends `payload` as the serialized request, bytes as they are: what a hostile client can do."""
    call = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        call(payload, timeout=timeout)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details()


def with_invalid_utf8(message, field_path: str) -> bytes:
    """`message` serialized with the string at `field_path` replaced by bytes that are not UTF-8."""
    marker = "MARKERMARKER"
    target = message
    *parents, leaf = field_path.split(".")
    for name in parents:
        target = getattr(target, name)
    setattr(target, leaf, marker)
    data = message.SerializeToString()
    return data.replace(marker.encode(), b"\xff\xfe\xfd\xfc\xc0\x80\xed\xa0\x80\x00\x00\x00")


def grpc_cases(customer_id, disc_id):
    """(service, method, request message) for every RPC, with hostile field values."""
    money = {"currency_code": "BRL", "units": 1}
    for text in STRINGS:
        for field in ("title", "artist", "genre"):
            values = {"title": "T", "artist": "A", "genre": "G", "release_year": 1972, "stock": 1, field: text}
            yield "catalog", "CreateDisc", catalog_pb2.CreateDiscRequest(
                disc=catalog_pb2.Disc(price=money, **values))
            yield "catalog", "ListDiscs", catalog_pb2.ListDiscsRequest(**{field: text})
        yield "catalog", "ListDiscs", catalog_pb2.ListDiscsRequest(page_token=text)
        yield "catalog", "GetDisc", catalog_pb2.GetDiscRequest(id=text)
        yield "catalog", "RestockDisc", catalog_pb2.RestockDiscRequest(id=text, quantity=1)
        # Quantity 0: the corpus must not itself take stock without a purchase.
        yield "catalog", "ReserveStock", catalog_pb2.ReserveStockRequest(reservation_id=text, disc_id=disc_id,
                                                                         quantity=0)
        yield "catalog", "ReleaseStock", catalog_pb2.ReleaseStockRequest(reservation_id=text)
        yield "customers", "CreateCustomer", customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(name=text, email=f"{uuid.uuid4().hex}@example.com"))
        yield "customers", "GetCustomer", customers_pb2.GetCustomerRequest(id=text)
        yield "customers", "ListCustomers", customers_pb2.ListCustomersRequest(page_token=text)
        yield "customers", "DeactivateCustomer", customers_pb2.DeactivateCustomerRequest(id=text)
        yield "orders", "CreatePurchase", orders_pb2.CreatePurchaseRequest(
            purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=text, quantity=1))
        yield "orders", "CreatePurchase", orders_pb2.CreatePurchaseRequest(
            purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=1), request_id=text)
        yield "orders", "GetPurchase", orders_pb2.GetPurchaseRequest(id=text)
        yield "orders", "ListPurchases", orders_pb2.ListPurchasesRequest(customer_id=text)
        yield "orders", "ListPurchases", orders_pb2.ListPurchasesRequest(page_token=text)
        yield "orders", "CancelPurchase", orders_pb2.CancelPurchaseRequest(id=text)
    for number in INTEGERS:
        int32 = max(-(2**31), min(2**31 - 1, number))
        yield "catalog", "CreateDisc", catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
            title="T", artist="A", genre="G", release_year=1972, stock=1,
            price={"currency_code": "BRL", "units": number, "nanos": int32}))
        yield "catalog", "RestockDisc", catalog_pb2.RestockDiscRequest(id=disc_id, quantity=int32)
        yield "catalog", "ReserveStock", catalog_pb2.ReserveStockRequest(
            reservation_id=str(uuid.uuid4()), disc_id=disc_id, quantity=int32 if int32 <= 0 else 2**31 - 1)
        yield "orders", "CreatePurchase", orders_pb2.CreatePurchaseRequest(
            purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=int32))
        yield "catalog", "ListDiscs", catalog_pb2.ListDiscsRequest(page_size=int32, release_year=int32)
        yield "orders", "ListPurchases", orders_pb2.ListPurchasesRequest(
            start_time={"seconds": number, "nanos": int32}, end_time={"seconds": min(-number, 2**63 - 1)})


SERVICE = {"catalog": "recordstore.catalog.v1.CatalogService",
           "customers": "recordstore.customers.v1.CustomerService",
           "orders": "recordstore.orders.v1.OrderService"}


def test_no_grpc_request_answers_a_server_error(stack):
    customer = create_customer(stack, name="Ana")
    disc = stack.catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
        title="T", artist="A", genre="G", release_year=1972, stock=50,
        price={"currency_code": "BRL", "units": 1})))
    # The staff, but the buyer for the orders service: each method reached by someone it is for.
    channels = {name: channel(address, stack.tokens[customer.id] if name == "orders" else stack.staff_token)
                for name, address in stack.addresses.items()}
    bad = []
    try:
        cases = list(grpc_cases(customer.id, disc.id))
        for service, method, message in cases:
            code, details = raw_call(channels[service], f"/{SERVICE[service]}/{method}", message.SerializeToString())
            if code not in CLIENT_CODES:
                bad.append((method, str(message)[:100], code.name, details[:100]))
        # Bytes no client library would send: invalid UTF-8 in each string field, and no protobuf at all.
        for service, method, message, field in [
            ("catalog", "ListDiscs", catalog_pb2.ListDiscsRequest(), "artist"),
            ("catalog", "GetDisc", catalog_pb2.GetDiscRequest(), "id"),
            ("catalog", "CreateDisc", catalog_pb2.CreateDiscRequest(disc={"price": {"units": 1}}), "disc.title"),
            ("customers", "CreateCustomer", customers_pb2.CreateCustomerRequest(customer={}), "customer.name"),
            ("orders", "ListPurchases", orders_pb2.ListPurchasesRequest(), "page_token"),
            ("orders", "CreatePurchase", orders_pb2.CreatePurchaseRequest(purchase={"quantity": 1}),
             "purchase.disc_id"),
        ]:
            code, details = raw_call(channels[service], f"/{SERVICE[service]}/{method}",
                                     with_invalid_utf8(message, field))
            if code != grpc.StatusCode.INVALID_ARGUMENT:
                bad.append((method, f"invalid UTF-8 in {field}", code.name, details[:100]))
            for garbage in (b"\xff" * 16, b"\x0a\xff\xff\xff\xff\x0f", descriptor_pb2.FileDescriptorProto(
                    name="x" * 100).SerializeToString()):
                code, details = raw_call(channels[service], f"/{SERVICE[service]}/{method}", garbage)
                if code not in CLIENT_CODES:
                    bad.append((method, f"garbage {garbage[:16]!r}", code.name, details[:100]))
        assert not bad, f"{len(bad)} of {len(cases)} answered a server error: {bad[:10]}"
        assert len(cases) > 300
    finally:
        for each in channels.values():
            each.close()
    assert stack.catalog.GetDisc(catalog_pb2.GetDiscRequest(id=disc.id)).id == disc.id
    report = check(stack.cluster.admin_url, [disc.id])
    assert report.ok, [str(v) for v in report.violations]
