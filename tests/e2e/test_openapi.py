"""docs/openapi.json describes what the gateway really serves: every operation, live."""

import json
import uuid

import pytest

from tests.e2e.test_feed_json import Stream
from tests.support import REPO_ROOT

OPENAPI = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
OPERATIONS = [(path, verb, op) for path, verbs in OPENAPI["paths"].items() for verb, op in verbs.items()]
QUERY_SAMPLES = {"page_size": "2", "page_token": "", "artist": "a", "title": "a", "genre": "MPB",
                 "release_year": "1972", "show_deactivated": "true", "start_time": "2020-01-01T00:00:00Z",
                 "end_time": "2100-01-01T00:00:00Z"}


def resolve(schema):
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    return OPENAPI["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


@pytest.fixture(scope="module")
def resources(api):
    """One of each resource, so every operation can succeed."""
    def create(path, body):
        reply = api.post(path, body)
        assert reply.status == 200, reply.text
        return reply.json["id"]

    ids = {"CustomerService": create("/v1/customers", {"name": "Doc", "email": f"doc-{uuid.uuid4().hex}@example.com"})}
    example = {"title": "Doc", "artist": "Doc", "genre": "MPB", "release_year": 2000,
               "price": {"currency_code": "BRL", "units": 1}, "stock": 50}
    ids["CatalogService"] = create("/v1/discs", example)
    ids["OrderService"] = create("/v1/purchases", {"customer_id": ids["CustomerService"],
                                                   "disc_id": ids["CatalogService"], "quantity": 1})
    return ids


@pytest.mark.parametrize("path, verb, operation", OPERATIONS, ids=[op["operationId"] for _, _, op in OPERATIONS])
def test_every_documented_operation_is_served(api, resources, path, verb, operation):
    tag = operation["tags"][0]
    url = path.replace("{id}", resources[tag])
    query = {p["name"]: QUERY_SAMPLES[p["name"]] for p in operation["parameters"]
             if p["in"] == "query" and p["name"] in QUERY_SAMPLES and verb == "get"}
    body = None
    if "requestBody" in operation:
        body = dict(operation["requestBody"]["content"]["application/json"].get("example", {}))
        if operation["operationId"] == "CreateCustomer":
            body["email"] = f"doc-{uuid.uuid4().hex}@example.com"
        if operation["operationId"] == "CreatePurchase":
            body.update(customer_id=resources["CustomerService"], disc_id=resources["CatalogService"])
        if operation["operationId"] == "DeactivateCustomer":
            url = path.replace("{id}", api.post("/v1/customers", {
                "name": "Gone", "email": f"gone-{uuid.uuid4().hex}@example.com"}).json["id"])
    schema = resolve(operation["responses"]["200"]["content"]["application/json"]["schema"])
    if operation.get("x-server-streaming"):  # a change feed: its first line, from the beginning
        stream = Stream(int(api.port), f"{url}?after_cursor=0", api.staff_token)
        try:
            assert stream.reply.status == 200, f"GET {url}: {stream.reply.status}"
            first = next(stream.lines())
        finally:
            stream.close()
        assert set(first) <= set(schema["properties"]), f"undocumented fields in {first}"
        return
    reply = api.request(verb.upper(), url, body=body, query=query or None)
    assert reply.status == 200, f"{verb.upper()} {url}: {reply.status} {reply.text}"
    assert set(reply.json) <= set(schema["properties"]), f"undocumented fields in {reply.json}"


def test_every_served_path_is_documented():
    """The reverse direction: no annotated RPC is missing from the document (it is generated from
    the same descriptor set the gateway loads; this guards the generator)."""
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    descriptors = descriptor_pb2.FileDescriptorSet.FromString((REPO_ROOT / "gateway" / "recordstore.pb").read_bytes())
    served = set()
    for file in descriptors.file:
        if file.package.startswith("recordstore."):
            for service in file.service:
                for method in service.method:
                    rule = method.options.Extensions[annotations_pb2.http]
                    verb = rule.WhichOneof("pattern")
                    if verb:
                        served.add((getattr(rule, verb), verb))
    assert served == {(path, verb) for path, verb, _ in OPERATIONS}
