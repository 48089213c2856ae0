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
