"""The gateway's check of JSON bodies (gateway/body_check.lua, tables generated from the protos):
a key no field has, or a value of the wrong JSON type, is refused naming the field, where the
transcoder alone would drop it or read null as zero; lower-case RFC 3339 timestamps are taken."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

DISC = {"title": "Checked", "artist": "Body", "genre": "MPB", "release_year": 1999,
        "price": {"currency_code": "BRL", "units": "5"}, "stock": 3}


def customer(**extra):
    return {"name": "Ana Souza", "email": f"check-{uuid.uuid4().hex}@example.com", **extra}


def violation(reply) -> tuple[str, str]:
    details = {d["@type"].rsplit(".", 1)[1]: d for d in reply.json["details"]}
    [field] = details["BadRequest"]["field_violations"]
    return field["field"], details["ErrorInfo"]["reason"]


def test_a_misspelt_field_is_refused_and_nothing_is_created(api):
    body = customer(phnoe="+55 11 91234-5678")
    reply = api.post("/v1/customers", body)
    assert reply.status == 400, reply.text
    assert violation(reply) == ("customer.phnoe", "UNKNOWN_FIELD")
    assert "customer.phnoe" in reply.json["message"]
    # Nothing was created: the same email is still free.
    del body["phnoe"]
    assert api.post("/v1/customers", body).status == 200


@pytest.mark.parametrize("path, body, field", [
    ("/v1/discs", {**DISC, "price": {"currency_code": "BRL", "units": "5", "nanoz": 1}}, "disc.price.nanoz"),
    ("/v1/discs/{disc}:restock", {"quantity": 1, "quantity_": 2}, "quantity_"),
    ("/v1/purchases", {"customer_id": "{customer}", "disc_id": "{disc}", "quantity": 1, "requestId2": "x"},
     "purchase.requestId2"),
    ("/v1/purchases/{purchase}:cancel", {"reason": "changed my mind"}, "reason"),
    ("/v1/customers/{customer}:deactivate", {"why": 1}, "why"),
    # An escaped key is the key it spells.
    ("/v1/customers", {"name": "Ana", "email": "x@example.com", "\\u0070hnoe": "1"}, "customer.\\u0070hnoe"),
])
def test_unknown_fields_are_refused_everywhere(api, resources, path, body, field):
    url = path.format(**resources)
    fill = {k: (v.format(**resources) if isinstance(v, str) else v) for k, v in body.items()}
    raw = None
    if any("\\u" in k for k in fill):  # json.dumps would escape the backslash
        raw = ('{' + ", ".join(f'"{k}": "{v}"' for k, v in fill.items()) + '}').encode()
    reply = api.request("POST", url, body=fill, raw=raw)
    assert reply.status == 400, reply.text
    assert violation(reply)[1] == "UNKNOWN_FIELD"
    assert violation(reply)[0] == field.replace("\\u0070", "p")


@pytest.mark.parametrize("body, field", [
    ({**DISC, "stock": "3"}, "disc.stock"),
    ({**DISC, "stock": None}, "disc.stock"),
    ({**DISC, "title": 12}, "disc.title"),
    ({**DISC, "price": "5 BRL"}, "disc.price"),
    ({**DISC, "price": {"currency_code": "BRL", "units": [5]}}, "disc.price.units"),
])
def test_a_value_of_the_wrong_json_type_is_refused_naming_the_field(api, body, field):
    reply = api.post("/v1/discs", body)
    assert reply.status == 400, reply.text
    assert violation(reply) == (field, "INVALID_FIELD")


def test_valid_bodies_pass_with_proto_and_json_names(api):
    camel = {**{k: v for k, v in DISC.items() if k != "release_year"}, "releaseYear": 1999,
             "price": {"currencyCode": "BRL", "units": 5, "nanos": 500000000}}
    reply = api.post("/v1/discs", camel)
    assert reply.status == 200, reply.text
    assert reply.json["price"] == {"currency_code": "BRL", "units": "5", "nanos": 500000000}


def test_lower_case_rfc3339_timestamps_are_accepted_in_the_query(api, resources):
    now = datetime.now(timezone.utc)
    start = f"{now.year - 1}-01-01t00:00:00z"
    end = f"{now.year + 1}-01-01t00:00:00.5z"
    reply = api.get("/v1/purchases", customer_id=resources["customer"], start_time=start, end_time=end)
    assert reply.status == 200, reply.text
    assert [p["id"] for p in reply.json["purchases"]] == [resources["purchase"]]


@pytest.fixture(scope="module")
def resources(api):
    customer_id = api.post("/v1/customers", customer()).json["id"]
    disc_id = api.post("/v1/discs", DISC).json["id"]
    purchase = api.post("/v1/purchases", {"customer_id": customer_id, "disc_id": disc_id, "quantity": 1})
    assert purchase.status == 200, purchase.text
    return {"customer": customer_id, "disc": disc_id, "purchase": purchase.json["id"]}


@pytest.mark.parametrize("path, query, field, words", [
    ("/v1/discs", {"page_size": ""}, "page_size", "must be a whole number"),
    ("/v1/discs", {"page_size": "ten"}, "page_size", "must be a whole number"),
    ("/v1/customers", {"page_size": str(2**31)}, "page_size", "must be a whole number between -2147483648 and 2147483647"),
    ("/v1/discs", {"release_year": "1972.5"}, "release_year", "must be a whole number"),
    ("/v1/customers", {"show_deactivated": "yes"}, "show_deactivated", "must be true or false"),
])
def test_query_values_of_the_wrong_type_are_refused_in_the_apis_words(api, path, query, field, words):
    reply = api.get(path, **query)
    assert reply.status == 400, reply.text
    assert violation(reply) == (field, "INVALID_FIELD")
    assert words in reply.json["message"] and "TYPE_" not in reply.text


def test_query_values_of_the_right_type_pass(api):
    reply = api.get("/v1/customers", page_size="5", show_deactivated="false")
    assert reply.status == 200, reply.text


@pytest.mark.parametrize("raw", [b'{"name": "Ana", "email": ', b'{"name": "Ana" "email": "x"}', b'{"name": tru}',
                                 b'{"name": "Ana", "email": "a@example.com", "phone": "1\\x"}'])
def test_a_body_that_is_not_json_says_where_it_stops(api, raw):
    reply = api.request("POST", "/v1/customers", raw=raw)
    assert reply.status == 400, reply.text
    assert reply.json["details"][0]["reason"] == "INVALID_JSON"
    assert "not valid JSON (at byte" in reply.json["message"]


def reason(reply) -> str:
    return next(d["reason"] for d in reply.json["details"] if d["@type"].endswith("ErrorInfo"))


@pytest.mark.parametrize("raw, words", [
    (b'\xef\xbb\xbf{"name": "Ana", "email": "bom@example.com"}', "without a byte order mark"),
    (b'{"name": "Ana"} // a comment', "nothing after it"),
    (b'{"name": /* a comment */ "Ana"}', "not valid JSON"),
    (b'{}x', "nothing after it"),
    (b'{}{}', "nothing after it"),
    (b'   \n\t ', "one JSON object"),
    (b'true', "one JSON object"), (b'1', "one JSON object"), (b'"x"', "one JSON object"),
    (b'[]', "one JSON object"), (b'null', "one JSON object"),
    (b'{"name": "Ana", "email": "a@example.com", "phone": "1\n2"}', "not valid JSON"),  # a raw control character
    ('{"name": "Ana", "email": "x@example.com"}'.encode("utf-16"), "one JSON object"),
    ('{"name": "Ana", "email": "x@example.com"}'.encode("utf-16-le"), "not valid JSON"),
])
def test_a_body_that_is_not_one_json_object_is_invalid_json_without_echo(api, raw, words):
    reply = api.request("POST", "/v1/customers", raw=raw)
    assert reply.status == 400, reply.text
    assert reason(reply) == "INVALID_JSON" and words in reply.json["message"], reply.text
    assert "at byte" in reply.json["message"] and "^" not in reply.text and "Ana" not in reply.text


def test_nesting_deeper_than_the_bound_is_invalid_json(api, resources):
    deep = b'{"quantity": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    reply = api.request("POST", f"/v1/discs/{resources['disc']}:restock", raw=deep)
    # "x" is no field: the unknown key is found first, without reading the nesting.
    assert reply.status == 400 and reason(reply) == "UNKNOWN_FIELD", reply.text
    deep = b'{"quantity": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    reply = api.request("POST", f"/v1/discs/{resources['disc']}:restock", raw=deep)
    assert reply.status == 400 and reason(reply) == "INVALID_JSON", reply.text
    assert "nested deeper than 32 levels" in reply.json["message"]


@pytest.mark.parametrize("raw, field", [
    (b'{"name": "Jos\xe9", "email": "latin1@example.com"}', "customer.name"),  # latin-1
    (b'{"name": "Ana", "email": "a@example.com", "phone": "\xc0\xaf"}', "customer.phone"),  # overlong
    (b'{"name": "Ana", "email": "a@example.com", "phone": "\xed\xa0\x80"}', "customer.phone"),  # a surrogate
    (b'{"name": "\\ud800", "email": "s@example.com"}', "customer.name"),
    (b'{"name": "\\udc00x", "email": "s@example.com"}', "customer.name"),
    (b'{"name": "\\ud800\\u0041", "email": "s@example.com"}', "customer.name"),
    (b'{"na\xffme": "Ana", "email": "s@example.com"}', "customer"),
])
def test_text_that_is_not_utf8_is_refused_naming_the_field(api, raw, field):
    reply = api.request("POST", "/v1/customers", raw=raw)
    assert reply.status == 400, reply.text
    assert violation(reply) == (field, "INVALID_UTF8"), reply.text


def test_utf8_and_surrogate_pairs_still_pass(api):
    raw = '{"name": "José \\ud83c\\udfb5 ♫", "email": "%s@example.com"}' % uuid.uuid4().hex
    reply = api.request("POST", "/v1/customers", raw=raw.encode())
    assert reply.status == 200, reply.text
    assert reply.json["name"] == "José \U0001f3b5 ♫"
