"""docs/insomnia.json works as shipped: every request, sent as Insomnia would send it from the
"Local stack" environment, with every optional parameter turned on, succeeds; and sending the
whole collection twice works too (no value that is taken once, such as an email)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

from tests.support import REPO_ROOT

COLLECTION = json.loads((REPO_ROOT / "docs" / "insomnia.json").read_text())
RESOURCES = COLLECTION["resources"]
REQUESTS = [r for r in RESOURCES if r["_type"] == "request"]
# In the order a user fills the environment in: create, then use what was created.
ORDER = ["CreateCustomer", "CreateDisc", "CreatePurchase", "CreatePurchase at the counter", "GetCustomer",
         "ListCustomers", "GetDisc", "ListDiscs", "RestockDisc", "GetPurchase", "ListPurchases", "CancelPurchase",
         "DeactivateCustomer"]
CREATES = {"CreateCustomer": "customer_id", "CreateDisc": "disc_id", "CreatePurchase": "purchase_id"}


def render(text: str, variables: dict) -> str:
    """Insomnia's template tags used by the collection: {{ _.name }} and {% uuid 'v4' %}."""
    text = re.sub(r"\{% uuid 'v4' %\}", lambda _: str(uuid.uuid4()), text)
    return re.sub(r"\{\{ _\.(\w+) \}\}", lambda m: str(variables[m[1]]), text)


def environment(name: str) -> dict:
    return next(r["data"] for r in RESOURCES if r["_type"] == "environment" and r["name"] == name)


def test_the_collection_has_a_local_and_a_deployed_environment():
    local, deployed = environment("Local stack"), environment("Deployed")
    assert local["base_url"].startswith("http://localhost") and deployed["base_url"].startswith("https://")
    assert set(local) == set(deployed) and "token" in local
    assert sorted(r["name"] for r in REQUESTS) == sorted(ORDER)


def test_every_request_of_the_collection_succeeds_twice_with_every_parameter(api, gateway, stack):
    requests = {r["name"]: r for r in REQUESTS}
    for attempt in range(2):
        # As a user fills them in: the staff's token, and a shopper's (a new one each time: a
        # subject signs up once).
        variables = {**environment("Local stack"), "base_url": gateway.url, "token": stack.staff_token,
                     "customer_token": stack.issuer.customer_token(f"collection-{uuid.uuid4().hex[:8]}")}
        for name in ORDER:
            request = requests[name]
            url = render(request["url"], variables)
            query = {p["name"]: render(p["value"], variables) for p in request["parameters"]}
            if name == "ListPurchases":
                query.pop("customer_id")  # one filter at a time is enough: the customer's own below
                assert api.get("/v1/purchases", customer_id=variables["customer_id"]).status == 200
            path = url.removeprefix(gateway.url) + (f"?{urlencode(query)}" if query else "")
            body = render(request["body"]["text"], variables).encode() if "body" in request else None
            headers = {h["name"].lower(): render(h["value"], variables) for h in request["headers"] if not h.get("disabled")}
            reply = api.request(request["method"], path, raw=body, headers=headers, authorization=None)
            assert reply.status == 200, f"attempt {attempt + 1}, {name} {path}: {reply.status} {reply.text}"
            if name in CREATES:
                variables[CREATES[name]] = reply.json["id"]
            if name == "ListDiscs":
                assert "next_page_token" in reply.json
