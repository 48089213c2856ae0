"""The gateway and the services agree on what a bearer token is: the same scheme spellings are
taken, the same claims are required, and every 401 a JSON client gets says how to authenticate
(WWW-Authenticate, RFC 6750), whether Envoy refused the token or a service did."""

from __future__ import annotations

import http.client
import time

import grpc
import jwt
import pytest
from recordstore.catalog.v1 import catalog_pb2

from tests.e2e.test_auth_gateway import reason_of
from tests.e2e.test_json_api import new_disc
from tests.e2e.test_json_errors import assert_error
from tests.support import raises_status

# What Envoy's local reply mapper says for a token it refused; a service's refusal reads otherwise.
EDGE_REFUSAL = "the bearer token is not valid"


def signed(issuer, drop: tuple[str, ...] = (), **claims) -> str:
    """A token properly signed by the stack's issuer, with claims left out or replaced."""
    now = int(time.time())
    payload = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "staff", "roles": ["staff"],
               "iat": now, "exp": now + 600, **claims}
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, issuer._private_key(), algorithm="ES256", headers={"kid": issuer.key_id()})


def www_authenticate(api, method: str, path: str, authorization: str | None) -> tuple[int, list[str], str]:
    """(status, every WWW-Authenticate header, body): the headers as sent, none merged away."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        headers = {"content-type": "application/json"}
        if authorization is not None:
            headers["authorization"] = authorization
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        answer = conn.getresponse()
        return answer.status, [v for k, v in answer.getheaders() if k.lower() == "www-authenticate"], answer.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR", "Bearer"])
def test_the_bearer_scheme_is_taken_in_any_case_by_the_gateway_as_by_the_services(api, stack, scheme):
    """RFC 7235: the scheme is case-insensitive; the services always took it so, now Envoy does."""
    disc = new_disc(api, stock=4)
    authorization = f"{scheme} {stack.issuer.staff_token()}"
    reply = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 3}, authorization=authorization)
    assert reply.status == 200, reply.text
    assert reply.json["stock"] == 7
    assert api.request("GET", "/v1/customers", query={"page_size": 1}, authorization=authorization).status == 200
    answer = stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc["id"], quantity=1), timeout=10,
                                       metadata=(("authorization", authorization),))
    assert answer.stock == 8


@pytest.mark.parametrize("kind", ["no exp", "no sub", "empty sub", "null sub"])
def test_a_token_missing_a_required_claim_is_refused_at_the_edge_as_by_the_services(api, stack, kind):
    token = {"no exp": lambda i: signed(i, drop=("exp",)), "no sub": lambda i: signed(i, drop=("sub",)),
             "empty sub": lambda i: signed(i, sub=""), "null sub": lambda i: signed(i, sub=None)}[kind](stack.issuer)
    disc = new_disc(api, stock=4)
    for method, path, body in (("POST", f"/v1/discs/{disc['id']}:restock", {"quantity": 5}),
                               ("GET", f"/v1/discs/{disc['id']}", None)):
        reply = api.request(method, path, body=body, authorization=f"Bearer {token}")
        error = assert_error(reply, 401, 16)
        assert reason_of(error) == "TOKEN_INVALID"
        assert error["message"].startswith(EDGE_REFUSAL), f"{kind} passed Envoy: {error['message']}"
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    with raises_status(grpc.StatusCode.UNAUTHENTICATED, reason="TOKEN_INVALID"):
        stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc["id"], quantity=5), timeout=10,
                                  metadata=(("authorization", f"Bearer {token}"),))
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_a_valid_token_still_passes_both(api, stack):
    disc = new_disc(api, stock=4)
    reply = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 1},
                        authorization=f"Bearer {signed(stack.issuer)}")
    assert reply.status == 200, reply.text


@pytest.mark.parametrize("case", [
    # Envoy refuses: no token where one is needed (no error code: RFC 6750, 3.1), a token not ours.
    ("POST", "/v1/discs/{disc}:restock", None, None),
    ("POST", "/v1/discs/{disc}:restock", "Bearer not-a-jwt", "invalid_token"),
    ("POST", "/v1/discs/{disc}:restock", "expired", "invalid_token"),
    ("GET", "/v1/discs/{disc}", "wrong audience", "invalid_token"),
    # Another scheme, or the Bearer scheme with no token, shows no bearer token (RFC 6750, 3.1).
    ("POST", "/v1/discs/{disc}:restock", "Basic c3RhZmY6c3RhZmY=", None),
    ("POST", "/v1/discs/{disc}:restock", "Bearer", None),
], ids=["missing", "not a jwt", "expired", "wrong audience", "basic", "empty bearer"])
def test_every_401_says_how_to_authenticate(api, stack, case):
    method, path, authorization, error = case
    tokens = {"expired": lambda: stack.issuer.mint("staff", ["staff"], iat=int(time.time()) - 7200,
                                                   exp=int(time.time()) - 3600),
              "wrong audience": lambda: stack.issuer.mint("staff", ["staff"], aud="another-api")}
    if authorization in tokens:
        authorization = f"Bearer {tokens[authorization]()}"
    disc = new_disc(api, stock=4)
    status, challenges, body = www_authenticate(api, method, path.format(disc=disc["id"]), authorization)
    assert status == 401, body
    assert len(challenges) == 1, challenges
    assert challenges[0].startswith('Bearer realm="recordstore"'), challenges
    if error:
        assert f'error="{error}"' in challenges[0]
    else:
        assert "error=" not in challenges[0]


@pytest.mark.parametrize("authorization", ["Basic c3RhZmY6c3RhZmY=", "Bearer", "Bearer "])
def test_an_authorization_that_is_no_bearer_token_counts_as_none_at_the_gateway_as_at_the_services(
        api, stack, authorization):
    """RFC 6750, 3.1: a request using another method lacks authentication information. Browsing is
    served (Envoy let it through before, and the service then refused it as TOKEN_INVALID with
    error="invalid_token"); a method that needs a token says TOKEN_MISSING, with no error code."""
    disc = new_disc(api, stock=4)
    assert api.request("GET", f"/v1/discs/{disc['id']}", authorization=authorization).status == 200
    assert stack.catalog.GetDisc(catalog_pb2.GetDiscRequest(id=disc["id"]), timeout=10,
                                 metadata=(("authorization", authorization),)).stock == 4
    reply = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 1}, authorization=authorization)
    assert reason_of(assert_error(reply, 401, 16)) == "TOKEN_MISSING"
    assert "error=" not in reply.headers["www-authenticate"]
    with raises_status(grpc.StatusCode.UNAUTHENTICATED, reason="TOKEN_MISSING"):
        stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc["id"], quantity=1), timeout=10,
                                  metadata=(("authorization", authorization),))
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_a_token_in_the_url_is_no_credential(api, stack):
    """jwt_authn reads `?access_token=` unless told where to look; a URL is logged everywhere."""
    disc = new_disc(api, stock=4)
    for token in (stack.issuer.staff_token(), "not-a-jwt"):
        # Browsing with it: not a 401 (no token was shown), the parameter is just unknown.
        reply = api.request("GET", "/v1/discs", query={"access_token": token}, authorization=None)
        assert reason_of(assert_error(reply, 400, 3)) == "UNKNOWN_FIELD", reply.text
        # A method that needs a token: still none.
        reply = api.request("POST", f"/v1/discs/{disc['id']}:restock?access_token={token}", body={"quantity": 1},
                            authorization=None)
        assert reason_of(assert_error(reply, 401, 16)) == "TOKEN_MISSING", reply.text
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4
