"""Rotating the issuer's signing key, as docs/edge.md tells it, step by step through the real
Envoy and real services, without a restart (issue 20, section 3): publish the new key beside the
old one, sign with the new one, drop the old one: every token the old key signed, used before or
not, is then refused at the gateway within its JWKS refresh.

The gateway and the two services it calls here (customers, catalog) trust a JWKS file of this
test's own, never the session's, which every other test's tokens need.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack.credentials import AUDIENCE, ISSUER, DevIssuer
from devstack.gateway import GatewayLimits
from devstack.processes import stop
from services.catalog import app as catalog_app
from services.customers import app as customers_app
from services.runtime.auth import AuthSettings
from services.runtime.db import Database
from services.runtime.server import start
from tests.e2e.conftest import TESTS_LIMITS, JsonClient, launch
from tests.support import common_settings

REFRESH_SECONDS = 1  # the gateway's JWKS refresh here (10 by default): the bound on a removal


def publish(path: Path, *issuers: DevIssuer) -> None:
    """The JWKS holding these issuers' public keys, written whole (beside, then renamed)."""
    keys = [key for issuer in issuers for key in json.loads(issuer.jwks_path.read_text())["keys"]]
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"keys": keys}))
    partial.replace(path)


def eventually(check, what: str, within: float = 20.0):
    """Polls `check` until it returns something true (a bound far above the refresh: a loaded
    machine may be slow, and the test asserts the outcome, not its timing)."""
    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return result


@pytest.fixture(scope="module")
def rotating(stack, tmp_path_factory):
    """Customers and catalog services and a gateway trusting `jwks.json` of this module's own."""
    directory = tmp_path_factory.mktemp("rotation")
    old, new = DevIssuer(directory / "old").ensure(), DevIssuer(directory / "new").ensure()
    jwks = directory / "published" / "jwks.json"
    jwks.parent.mkdir()
    publish(jwks, old)
    auth = AuthSettings(ISSUER, AUDIENCE, jwks_file=jwks)

    async def serve():
        running = {}
        for module in (customers_app, catalog_app):
            name = module.APP.name
            database = await Database(stack.cluster.service_url(name), 2, f"rotation-{name}").open()
            running[name] = (await start(module.APP, module.Settings(common_settings(name, auth)), database), database)
        return running

    running = stack.run(serve())
    upstreams = {**stack.addresses, **{name: f"127.0.0.1:{each.port}" for name, (each, _) in running.items()}}
    gateway = launch(upstreams, tmp_path_factory, SimpleNamespace(issuer=ISSUER, audience=AUDIENCE, jwks_path=jwks),
                     limits=GatewayLimits(jwks_refresh_seconds=REFRESH_SECONDS,
                                          sign_ups_per_address=TESTS_LIMITS.sign_ups_per_address))
    try:
        yield SimpleNamespace(jwks=jwks, old=old, new=new, client=JsonClient(int(gateway.url.rsplit(":", 1)[1])))
    finally:
        stop([gateway.process])

        async def close():
            for each, database in running.values():
                await each.stop(grace=1)
                await database.close()

        stack.run(close())


def listing(client: JsonClient, token: str):
    """The staff's listing of customers (customers service), through the gateway."""
    return client.request("GET", "/v1/customers?page_size=1", authorization=f"Bearer {token}")


def test_the_readme_s_rotation_through_the_gateway(rotating):
    client, old_token = rotating.client, rotating.old.staff_token(ttl=600)
    assert listing(client, old_token).status == 200  # used once: a cache of verified tokens would keep it

    new_token = rotating.new.staff_token(ttl=600)
    refused = listing(client, new_token)  # not published yet: a key the gateway does not know
    assert refused.status == 401 and refused.json["details"][0]["reason"] == "TOKEN_INVALID"

    # 1. Publish the new key beside the old one: both sign valid tokens, without a restart.
    publish(rotating.jwks, rotating.old, rotating.new)
    eventually(lambda: listing(client, new_token).status == 200, "the new key was never taken")
    assert listing(client, old_token).status == 200

    # 2. Sign with the new key: its tokens reach the services (an anonymous read with one, too).
    assert client.request("GET", "/v1/discs?page_size=1", authorization=f"Bearer {new_token}").status == 200

    # 3. Drop the old key: every token it signed is refused at the gateway, the one used before
    #    too, in the gateway's words (the services never see it); the new key's still pass.
    publish(rotating.jwks, rotating.new)
    gone = eventually(lambda: (r := listing(client, old_token)).status == 401 and r, "the old key still signs")
    assert gone.json["details"][0]["reason"] == "TOKEN_INVALID"
    assert gone.json["message"].startswith("the bearer token is not valid: not signed by a key of ours")
    assert listing(client, rotating.old.staff_token(ttl=600)).status == 401  # a fresh one of the old key
    assert listing(client, new_token).status == 200


def test_a_jwks_that_cannot_be_read_keeps_the_keys_the_gateway_had(rotating):
    """A fetch that fails (the file half-written, or with no key) changes nothing: the keys read
    before stay until a good JWKS is read again."""
    publish(rotating.jwks, rotating.new)
    token = rotating.new.staff_token(ttl=600)
    eventually(lambda: listing(rotating.client, token).status == 200, "the new key was never taken")
    for broken in ('{"keys": [', '{"keys": []}'):  # half-written; no key at all (Envoy refuses it too)
        rotating.jwks.write_text(broken)
        time.sleep(REFRESH_SECONDS * 3)  # several refreshes, each failing
        assert listing(rotating.client, token).status == 200
    publish(rotating.jwks, rotating.new)
