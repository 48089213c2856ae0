"""Hostile inputs through the real Envoy: each a 400 with the google.rpc.Status body naming the
field (BadRequest) and a stable reason (ErrorInfo), never a 500 or a 503."""

import pytest

from services.runtime import pagination
from tests.e2e.test_json_api import new_customer, new_disc, purchase
from tests.hostile import altered, forged_token
from tests.support import unique


def assert_invalid(reply, field: str, reason: str):
    assert reply.status == 400, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["code"] == 3 and field in body["message"]
    details = {d["@type"].rsplit(".", 1)[1]: d for d in body["details"]}
    assert details["ErrorInfo"]["reason"] == reason and details["ErrorInfo"]["domain"] == "recordstore"
    assert [v["field"] for v in details["BadRequest"]["field_violations"]] == [field]


@pytest.mark.parametrize("path, field", [
    ("/v1/discs?title=a%00b", "title"),
    ("/v1/discs?artist=%00", "artist"),
    ("/v1/purchases?customer_id=a%00b", "customer_id"),
])
def test_a_nul_in_a_query_or_path_is_400(api, path, field):
    assert_invalid(api.request("GET", path), field, "NUL_CHARACTER")


def test_a_nul_in_a_path_is_refused_by_the_gateway(api):
    # The gateway normalizes paths before routing, and a NUL (like an escaped slash) is no path.
    for path in ("/v1/customers/%00", "/v1/discs/a%2Fb"):
        reply = api.request("GET", path)
        assert reply.status == 400 and reply.json["code"] == 3, reply.text
        assert reply.json["details"][0]["reason"] == "INVALID_PATH" and reply.json["message"]


def test_a_nul_in_a_json_body_is_400(api):
    assert_invalid(api.post("/v1/customers", {"name": "a\u0000b", "email": f"{unique('a')}@example.com"}),
                   "customer.name", "NUL_CHARACTER")
    body = {"title": "t", "artist": "a", "genre": "g\u0000", "release_year": 1972,
            "price": {"currency_code": "BRL", "units": 1}, "stock": 1}
    assert_invalid(api.post("/v1/discs", body), "disc.genre", "NUL_CHARACTER")
    assert_invalid(purchase(api, "\u0000", "x", 1), "purchase.customer_id", "NUL_CHARACTER")


@pytest.mark.parametrize("path, field", [
    ("/v1/discs?artist=%ff%fe", "artist"),
    ("/v1/discs?title=%c3%28", "title"),
    ("/v1/customers?page_token=%ed%a0%80", "page_token"),
])
def test_invalid_utf8_in_a_query_is_400(api, path, field):
    assert_invalid(api.request("GET", path), field, "INVALID_UTF8")


@pytest.mark.parametrize("query", [
    "start_time.seconds=253402300800",
    "start_time.seconds=-62135596801",
    "start_time.nanos=-1",
    "start_time.nanos=2000000000",
    "end_time.seconds=253402300800",
    "end_time.nanos=-1",
])
def test_a_timestamp_out_of_range_is_400(api, query):
    assert_invalid(api.request("GET", f"/v1/purchases?{query}"), query.split(".")[0], "TIMESTAMP_OUT_OF_RANGE")


@pytest.fixture(scope="module")
def listings(api):
    """Each listing: (path, the query that filters it, the filters its tokens are bound to)."""
    artist = unique("Tokens")
    for _ in range(3):
        new_disc(api, artist=artist)
    customer, disc = new_customer(api), new_disc(api, stock=10)
    for _ in range(3):
        assert purchase(api, customer["id"], disc["id"], 1).status == 200
        new_customer(api)
    return {
        "discs": ("/v1/discs", {"artist": artist}, {"artist": artist, "title": None, "genre": None,
                                                    "release_year": None}),
        "customers": ("/v1/customers", {}, {"show_deactivated": False}),
        "purchases": ("/v1/purchases", {"customer_id": customer["id"]},
                      {"customer_id": customer["id"], "start_time": None, "end_time": None}),
    }


@pytest.mark.parametrize("listing", ["discs", "customers", "purchases"])
def test_every_altered_page_token_is_400(api, listings, listing):
    path, query, _ = listings[listing]
    first = api.request("GET", path, query={**query, "page_size": 1})
    token = first.json["next_page_token"]
    assert api.request("GET", path, query={**query, "page_size": 1, "page_token": token}).status == 200
    for i in range(len(token)):
        reply = api.request("GET", path, query={**query, "page_size": 1, "page_token": altered(token, i)})
        assert_invalid(reply, "page_token", "INVALID_PAGE_TOKEN")


@pytest.mark.parametrize("listing", ["discs", "customers", "purchases"])
@pytest.mark.parametrize("key", [["x"], [1], [[1, 2]], [{"a": 1}]])
@pytest.mark.parametrize("signed", [False, True], ids=["forged", "leaked-secret"])
def test_a_page_token_built_by_hand_is_400(api, listings, listing, key, signed):
    path, query, filters = listings[listing]
    token = forged_token(key, filters, pagination._process_secret() if signed else None)
    assert_invalid(api.request("GET", path, query={**query, "page_token": token}), "page_token",
                   "INVALID_PAGE_TOKEN")
