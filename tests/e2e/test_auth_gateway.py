"""Nobody acts beyond their rights, through the gateway: Envoy checks the bearer token (401 with
WWW-Authenticate, in the API's error shape) before anything reaches a service, browsing stays
anonymous, and the services' own decisions come through as 403 and 404."""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_json_api import new_customer, new_disc
from tests.e2e.test_json_errors import assert_error
from tests.integration.test_auth import forged_tokens


def reason_of(body: dict) -> str:
    return next(d["reason"] for d in body["details"] if d["@type"].endswith("ErrorInfo"))


def test_browsing_the_catalog_needs_no_token(api):
    disc = new_disc(api, stock=4)
    assert api.request("GET", f"/v1/discs/{disc['id']}", authorization=None).json["stock"] == 4
    assert api.request("GET", "/v1/discs", query={"artist": disc["artist"]},
                       authorization=None).json["discs"][0]["id"] == disc["id"]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1/discs/{disc}:restock", {"quantity": 1000}),
    ("POST", "/v1/discs", {"title": "Free", "artist": "A", "genre": "G", "release_year": 2000,
                           "price": {"currency_code": "BRL", "units": 0}, "stock": 1000000}),
    ("GET", "/v1/customers", None),
    ("POST", "/v1/customers/{customer}:deactivate", {}),
    ("GET", "/v1/purchases", None),
    ("POST", "/v1/purchases/{purchase}:cancel", {}),
])
def test_an_anonymous_write_or_private_read_is_401_and_changes_nothing(api, method, path, body):
    disc, customer = new_disc(api, stock=4), new_customer(api)
    bought = api.post("/v1/purchases", {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1}).json
    url = path.format(disc=disc["id"], customer=customer["id"], purchase=bought["id"])
    reply = api.request(method, url, body=body, authorization=None)
    assert reason_of(assert_error(reply, 401, 16)) == "TOKEN_MISSING"
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 3
    assert api.get(f"/v1/customers/{customer['id']}").json["state"] == "ACTIVE"
    assert api.get(f"/v1/purchases/{bought['id']}").json["state"] == "CONFIRMED"


@pytest.mark.parametrize("kind", ["expired", "wrong issuer", "wrong audience", "alg none", "tampered",
                                  "another key", "not a jwt"])
def test_a_token_that_is_not_valid_is_401_even_where_anyone_may_browse(api, stack, tmp_path, kind):
    disc = new_disc(api, stock=4)
    token, _ = forged_tokens(stack.issuer, tmp_path)[kind]
    for method, path, body in (("POST", f"/v1/discs/{disc['id']}:restock", {"quantity": 5}),
                               ("GET", f"/v1/discs/{disc['id']}", None)):
        reply = api.request(method, path, body=body, authorization=f"Bearer {token}")
        # The reason a service gives for the same token: one verdict at both ends.
        assert reason_of(assert_error(reply, 401, 16)) == ("TOKEN_EXPIRED" if kind == "expired" else "TOKEN_INVALID"), reply.text
        assert "www-authenticate" in reply.headers
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_a_customers_token_cannot_do_the_staffs_work(api, stack):
    disc, customer = new_disc(api, stock=4), new_customer(api)
    mine = f"Bearer {api.tokens[customer['id']]}"
    reply = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 5}, authorization=mine)
    assert reason_of(assert_error(reply, 403, 7)) == "ROLE_REQUIRED"
    assert_error(api.request("GET", "/v1/customers", authorization=mine), 403, 7)
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_another_customers_purchase_is_404_to_a_customer(api):
    disc, ana, bia = new_disc(api, stock=4), new_customer(api), new_customer(api)
    bought = api.post("/v1/purchases", {"customer_id": ana["id"], "disc_id": disc["id"], "quantity": 2}).json
    as_bia = f"Bearer {api.tokens[bia['id']]}"
    assert_error(api.request("GET", f"/v1/purchases/{bought['id']}", authorization=as_bia), 404, 5)
    assert_error(api.request("POST", f"/v1/purchases/{bought['id']}:cancel", body={}, authorization=as_bia), 404, 5)
    assert_error(api.request("GET", f"/v1/customers/{ana['id']}", authorization=as_bia), 404, 5)
    # Buying as another customer: that customer does not exist, as far as this buyer can tell.
    reply = api.request("POST", "/v1/purchases", body={"customer_id": ana["id"], "disc_id": disc["id"], "quantity": 1},
                        authorization=as_bia)
    assert_error(reply, 404, 5)
    assert api.get(f"/v1/purchases/{bought['id']}").json["state"] == "CONFIRMED"
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 2


def test_a_browsers_preflight_needs_no_token(api):
    reply = api.request("OPTIONS", "/v1/purchases", authorization=None, headers={
        "origin": "http://localhost:3000", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_a_token_expiring_is_refused_from_then_on(api, stack):
    """The gateway and the services both honour `exp` (a leeway of 5 s for clock skew)."""
    token = stack.issuer.staff_token(ttl=1)
    disc = new_disc(api, stock=4)
    assert api.request("GET", "/v1/customers", query={"page_size": 1}, authorization=f"Bearer {token}").status == 200
    deadline = time.monotonic() + 30
    while api.request("GET", "/v1/customers", query={"page_size": 1},
                      authorization=f"Bearer {token}").status == 200:
        assert time.monotonic() < deadline, "an expired token still works"
        time.sleep(0.5)
    reply = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 1},
                        authorization=f"Bearer {token}")
    assert_error(reply, 401, 16)
