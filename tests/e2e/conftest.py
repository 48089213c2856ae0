"""The JSON gateway: one real Envoy per session in front of the in-process services."""

from __future__ import annotations

import http.client
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devstack.gateway import CorsSettings, GatewayLimits, start_gateway
from devstack.loopback import free_address, free_port
from devstack.pki import DevPki
from devstack.processes import PKI_DIR
from devstack.processes import stop


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


class JsonClient:
    """A plain HTTP/1.1 JSON client, as a browser or curl would talk to the gateway.

    It acts as the staff (`staff_token`), except where a store's staff cannot act: signing up
    (POST /v1/customers) is done as a new shopper, with a token of a subject of its own, and
    buying (POST /v1/purchases) as the customer named in the body, with the token it signed up
    with (`tokens`, shared with the gRPC stubs' stack.tokens). A request that sends its own
    Authorization header (or `authorization=None`: none at all) is sent as it is.
    """

    def __init__(self, port: int, issuer=None, staff_token: str | None = None, tokens: dict | None = None):
        self.port = port
        self.issuer = issuer
        self.staff_token = staff_token
        self.tokens = tokens if tokens is not None else {}

    def _token_for(self, method: str, path: str, body) -> tuple[str | None, str | None]:
        """(the token to send, the subject it signs up when it is a new shopper's)."""
        bare = path.split("?", 1)[0]
        if method == "POST" and bare == "/v1/customers" and self.issuer is not None:
            subject = f"shopper-{uuid.uuid4().hex[:12]}"
            return self.issuer.customer_token(subject, ttl=24 * 3600), subject
        if method == "POST" and bare == "/v1/purchases" and isinstance(body, dict):
            buyer = body.get("customer_id")
            if isinstance(buyer, str) and buyer in self.tokens:
                return self.tokens[buyer], None
            if self.issuer is not None:  # someone who never signed up: every customer is NOT_FOUND to it
                return self.issuer.customer_token("not-signed-up", ttl=24 * 3600), None
        return self.staff_token, None

    def request(self, method: str, path: str, body=None, query: dict | None = None, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 10, authorization: str | None = "default") -> Reply:
        if query:
            path = f"{path}?{urlencode(query)}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = dict(headers or {})
        token = signed_up = None
        if authorization == "default" and not any(k.lower() == "authorization" for k in headers):
            token, signed_up = self._token_for(method, path, body)
        elif authorization not in (None, "default"):
            headers["authorization"] = authorization
        if token:
            headers["authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=payload,
                         headers={"content-type": "application/json", **headers})
            answer = conn.getresponse()
            reply = Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode())
            if signed_up and reply.status == 200:
                self.tokens[reply.json["id"]] = token
            return reply
        finally:
            conn.close()

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def post(self, path, body=None, **query):
        return self.request("POST", path, body=body if body is not None else {}, query=query or None)


# The session's gateway signs up a new shopper for most tests, all from 127.0.0.1: the sign-up
# limit per address is lifted there (test_edge_limits.py tests it, with its own gateways).
TESTS_LIMITS = GatewayLimits(sign_ups_per_address=1_000_000)


def launch(upstreams: dict[str, str], tmp_path_factory, issuer, cors: CorsSettings = CorsSettings(),
           limits: GatewayLimits = TESTS_LIMITS):
    logs = tmp_path_factory.mktemp("envoy") / "envoy.log"
    pki = DevPki(Path(os.environ[PKI_DIR]))
    return start_gateway(free_address(), free_port(), upstreams, issuer, pki, log_path=logs, cors=cors, limits=limits)


@pytest.fixture(scope="session")
def gateway(stack, tmp_path_factory):
    running = launch(stack.addresses, tmp_path_factory, stack.issuer)
    yield running
    stop([running.process])


@pytest.fixture(scope="session")
def api(gateway, stack) -> JsonClient:
    return JsonClient(int(gateway.url.rsplit(":", 1)[1]), stack.issuer, stack.staff_token, stack.tokens)
