"""Whatever a signed token holds, the gateway and the services give it the same verdict: the same
table of tokens goes to Envoy (401 or not) and straight to a service over gRPC (UNAUTHENTICATED or
not). A token one of them takes and the other refuses is a token a backend caller (or a client
behind a misconfigured route) could use where the edge said no."""

from __future__ import annotations

import http.client
import json
import time

import grpc
import jwt
import pytest
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2

from services.runtime.auth import subject_problem
from tests.e2e.test_auth_gateway import reason_of
from tests.e2e.test_auth_edge import signed
from tests.e2e.test_json_api import new_disc
from tests.e2e.test_json_errors import assert_error
from tests.support import raises_status


def gateway_takes(api, token: str) -> bool:
    """Whether Envoy lets a staff call with this token through (an answer other than 401)."""
    reply = api.request("GET", "/v1/customers", query={"page_size": 1}, authorization=f"Bearer {token}")
    assert reply.status in (200, 401), reply.text
    if reply.status == 401:
        assert reason_of(assert_error(reply, 401, 16)) == "TOKEN_INVALID"
    return reply.status == 200


def service_takes(stack, token: str) -> bool:
    try:
        stack.customers.ListCustomers(customers_pb2.ListCustomersRequest(page_size=1), timeout=10,
                                      metadata=(("authorization", f"Bearer {token}"),))
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        return False
    return True


NOW = int(time.time())


@pytest.mark.parametrize("claims, taken", [
    ({"exp": NOW + 600}, True),
    ({"exp": NOW + 600.5}, True),
    ({"exp": str(NOW + 600)}, False),
    ({"exp": "100000000000"}, False),
    ({"exp": True}, False),
    ({"nbf": NOW - 60}, True),
    ({"nbf": str(NOW - 60)}, False),
    ({"iat": str(NOW)}, False),
    ({"iat": NOW + 3600}, True),  # an issuer's clock ahead: neither end checks iat against its own
    ({"iat": False}, False),
    ({"exp": 10**20}, False),  # beyond unsigned 64-bit seconds: never expires
    ({"exp": 1e20}, False),
    ({"nbf": -1}, False),
    ({"iat": -1}, False),
], ids=["exp int", "exp float", "exp string", "exp far string", "exp bool", "nbf int", "nbf string",
        "iat string", "iat in the future", "iat bool", "exp beyond 2^64", "exp 1e20", "nbf negative", "iat negative"])
def test_a_numeric_date_must_be_a_json_number_at_the_gateway_as_at_the_services(api, stack, claims, taken):
    token = signed(stack.issuer, **claims)
    assert gateway_takes(api, token) is taken
    assert service_takes(stack, token) is taken


SUBJECTS = {
    "plain": "ana", "one character": "a", "255 characters": "a" * 255, "inner space": "ana maria",
    "an identity provider's": "auth0|5f7c8ec7c33c6c004bbafe82", "punctuation": "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
    "256 characters": "a" * 256, "empty": "", "spaces only": "   ", "leading space": " ana",
    "trailing space": "ana ", "newline": "an\na", "trailing tab": "ana\t", "delete": "ana\x7f",
    "next line": "\x85ana", "no-break space": "\u00a0ana", "em space": "ana\u2003",
    "accented": "José", "cjk": "日本", "zero width inside": "a\u200bb", "emoji": "\U0001F600",
    "254 then a trailing space": "a" * 254 + " ",
}
TAKEN = {"plain", "one character", "255 characters", "inner space", "an identity provider's", "punctuation"}


def test_the_subject_rule_in_python_takes_exactly_the_subjects_meant_to_pass():
    assert {name for name, subject in SUBJECTS.items() if subject_problem(subject) is None} == TAKEN


def test_a_numeric_date_that_is_not_finite_is_refused_by_the_services_as_the_gateway_cannot_parse_it(api, stack):
    """Python's json reads `Infinity`, JSON has none: Envoy cannot parse it, PyJWT refuses it as no integer."""
    header = jwt.utils.base64url_encode(json.dumps({"alg": "ES256", "typ": "JWT", "kid": stack.issuer.key_id()}).encode())
    body = json.dumps({"iss": stack.issuer.issuer, "aud": stack.issuer.audience, "sub": "staff", "roles": ["staff"],
                       "exp": float("inf")}).encode()  # json.dumps writes Infinity
    signing_input = header + b"." + jwt.utils.base64url_encode(body)
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(signing_input, stack.issuer._private_key())
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    assert gateway_takes(api, token) is False
    assert service_takes(stack, token) is False


def raw_token(issuer, header: str, claims: str) -> str:
    """A token signed by the stack's issuer over exactly this header and these claims (JSON text
    as written, which json.dumps would never write: a key twice, 1e999, a lone surrogate)."""
    signing_input = jwt.utils.base64url_encode(header.encode()) + b"." + jwt.utils.base64url_encode(claims.encode())
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(signing_input, issuer._private_key())
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


HEADER = '"alg": "ES256", "typ": "JWT", "kid": "{kid}"'
CLAIMS = '"iss": "{iss}", "aud": "{aud}", "sub": "staff", "roles": ["staff"], "exp": {exp}'
# Each: (header, claims), JSON text around the ordinary ones; whether both ends take the token.
WRITTEN = {
    "ordinary": ("{{" + HEADER + "}}", "{{" + CLAIMS + "}}", True),
    # Envoy reads a NumericDate as a double: 2^64-2048 is below 2^64, 2^64-1024 rounds to 2^64.
    "exp 2^64-2048": ("{{" + HEADER + "}}", "{{" + CLAIMS.replace("{exp}", str(2**64 - 2048)) + "}}", True),
    "exp 2^64-1024": ("{{" + HEADER + "}}", "{{" + CLAIMS.replace("{exp}", str(2**64 - 1024)) + "}}", False),
    "exp 2^64-1": ("{{" + HEADER + "}}", "{{" + CLAIMS.replace("{exp}", str(2**64 - 1)) + "}}", False),
    "alg twice": ('{{"alg": "none", ' + HEADER + "}}", "{{" + CLAIMS + "}}", False),
    "roles twice": ("{{" + HEADER + "}}", '{{"roles": ["customer"], ' + CLAIMS + "}}", False),
    "iss twice": ("{{" + HEADER + "}}", '{{"iss": "https://elsewhere.example", ' + CLAIMS + "}}", False),
    "a key twice deeper": ("{{" + HEADER + "}}", '{{"x": {{"a": 1, "a": 2}}, ' + CLAIMS + "}}", False),
    "a claim of 1e999": ("{{" + HEADER + "}}", '{{"x": 1e999, ' + CLAIMS + "}}", False),
    "a claim of 1e308": ("{{" + HEADER + "}}", '{{"x": 1e308, ' + CLAIMS + "}}", True),
    "a lone surrogate claim": ("{{" + HEADER + "}}", '{{"x": "\\ud800", ' + CLAIMS + "}}", False),
    "a surrogate pair claim": ("{{" + HEADER + "}}", '{{"x": "\\ud83d\\ude00", ' + CLAIMS + "}}", True),
}


@pytest.mark.parametrize("name", WRITTEN)
def test_json_envoy_refuses_in_a_token_is_refused_by_the_services_too(api, stack, name):
    header, claims, taken = WRITTEN[name]
    fields = {"kid": stack.issuer.key_id(), "iss": stack.issuer.issuer, "aud": stack.issuer.audience,
              "exp": NOW + 600}
    token = raw_token(stack.issuer, header.format(**fields), claims.format(**fields))
    assert gateway_takes(api, token) is taken, f"gateway on {name}"
    assert service_takes(stack, token) is taken, f"service on {name}"


def test_claims_behind_a_byte_order_mark_are_refused_by_the_services_as_by_the_gateway(api, stack):
    header = jwt.utils.base64url_encode(json.dumps({"alg": "ES256", "typ": "JWT", "kid": stack.issuer.key_id()}).encode())
    body = "\ufeff" + json.dumps({"iss": stack.issuer.issuer, "aud": stack.issuer.audience, "sub": "staff",
                                   "roles": ["staff"], "exp": NOW + 600})
    signing_input = header + b"." + jwt.utils.base64url_encode(body.encode())
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(signing_input, stack.issuer._private_key())
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    assert gateway_takes(api, token) is False
    assert service_takes(stack, token) is False


@pytest.mark.parametrize("name", SUBJECTS)
def test_one_subject_rule_at_the_gateway_and_the_services(api, stack, name):
    token = signed(stack.issuer, sub=SUBJECTS[name])
    taken = name in TAKEN
    assert gateway_takes(api, token) is taken, f"gateway on {SUBJECTS[name]!r}"
    assert service_takes(stack, token) is taken, f"service on {SUBJECTS[name]!r}"


def test_two_authorization_headers_are_refused_by_the_gateway_as_by_the_services(api, stack):
    disc = new_disc(api, stock=4)
    token = stack.issuer.staff_token()
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.putrequest("POST", f"/v1/discs/{disc['id']}:restock")
        conn.putheader("content-type", "application/json")
        conn.putheader("authorization", f"Bearer {token}")
        conn.putheader("authorization", f"Bearer {token}")
        conn.putheader("content-length", "15")
        conn.endheaders(b'{"quantity": 1}')
        answer = conn.getresponse()
        status, body = answer.status, answer.read().decode()
    finally:
        conn.close()
    assert status == 401, body
    gateway_reason = reason_of(json.loads(body))
    with raises_status(grpc.StatusCode.UNAUTHENTICATED, reason=gateway_reason) as refused:
        stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc["id"], quantity=1), timeout=10,
                                  metadata=(("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")))
    assert "more than once" in refused.value.details()
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_the_gateway_states_the_subject_rule_the_services_state():
    from devstack.processes import REPO_ROOT
    from services.runtime.auth import SUBJECT_PATTERN
    assert f"subjects: {{ safe_regex: {{ regex: '{SUBJECT_PATTERN}' }} }}" in (REPO_ROOT / "gateway" / "envoy.yaml").read_text()
