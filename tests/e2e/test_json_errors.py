"""Every error a JSON client can meet: a matching HTTP status and a JSON body it can act on."""

import time
import uuid

import grpc
import pytest
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc

from devstack.loopback import free_address
from devstack.processes import stop
from tests.e2e.conftest import JsonClient, launch
from tests.e2e.test_json_api import new_customer, new_disc, purchase
from tests.support import channel


def assert_error(reply, http_status, grpc_code):
    assert reply.status == http_status, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["code"] == grpc_code and body["message"] and isinstance(body["details"], list)
    return body


def test_not_found_names_the_resource(api):
    missing = str(uuid.uuid4())
    body = assert_error(api.get(f"/v1/discs/{missing}"), 404, 5)
    assert missing in body["message"]
    info = {d["@type"].rsplit("/", 1)[1]: d for d in body["details"]}
    assert info["google.rpc.ErrorInfo"]["reason"] == "DISC_NOT_FOUND"
    assert info["google.rpc.ResourceInfo"] == {"@type": "type.googleapis.com/google.rpc.ResourceInfo",
                                               "resource_type": "disc", "resource_name": missing,
                                               "owner": "", "description": ""}
    assert_error(api.get(f"/v1/customers/{missing}"), 404, 5)
    assert_error(api.get(f"/v1/purchases/{missing}"), 404, 5)


def test_invalid_argument_names_the_field(api):
    customer, disc = new_customer(api), new_disc(api)
    body = assert_error(purchase(api, customer["id"], disc["id"], 0), 400, 3)
    violations = [d for d in body["details"] if d["@type"].endswith("BadRequest")][0]["field_violations"]
    assert [v["field"] for v in violations] == ["purchase.quantity"]
    assert_error(api.get("/v1/discs", page_size=-1), 400, 3)
    assert_error(api.get("/v1/customers/not-a-uuid"), 400, 3)


def test_conflicts_and_preconditions(api):
    customer = new_customer(api)
    assert_error(api.post("/v1/customers", {"name": "Twin", "email": customer["email"]}), 409, 6)
    disc = new_disc(api, stock=0)
    rejected = purchase(api, customer["id"], disc["id"], 1).json
    body = assert_error(api.post(f"/v1/purchases/{rejected['id']}:cancel"), 400, 9)
    assert body["details"][0]["reason"] == "PURCHASE_NOT_EFFECTIVE"


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/nothing"),
    ("GET", "/"),
    ("GET", "/v1/discs/x/y"),
])
def test_unknown_paths_are_404_json(api, method, path):
    assert_error(api.request(method, path), 404, 5)


def test_unknown_query_parameters_are_400_json(api):
    body = assert_error(api.get("/v1/discs", colour="red"), 400, 3)
    assert "colour" in body["message"]


def test_malformed_json_is_400_json(api):
    reply = api.request("POST", "/v1/customers", raw=b'{"name": "Ana", "email": ')
    body = assert_error(reply, 400, 3)
    assert body["message"]


@pytest.mark.parametrize("method, path", [
    ("POST", "/recordstore.catalog.v1.CatalogService/ReserveStock"),
    ("POST", "/recordstore.catalog.v1.CatalogService/ReleaseStock"),
    ("POST", "/recordstore.catalog.v1.CatalogService/ReserveStocks"),
    ("POST", "/recordstore.customers.v1.CustomerService/BatchGetCustomers"),
    ("POST", "/v1/discs:reserve"),
    ("POST", "/v1/reservations"),
    ("POST", "/grpc.health.v1.Health/Check"),
    ("POST", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
])
def test_internal_rpcs_cannot_be_reached_as_json(api, method, path):
    disc = new_disc(api, stock=5)
    body = {"reservation_id": str(uuid.uuid4()), "disc_id": disc["id"], "quantity": 5}
    reply = api.request(method, path, body=body)
    assert reply.status in (403, 404), reply.text
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 5


def test_internal_rpcs_cannot_be_reached_as_raw_grpc(api, stack):
    disc = new_disc(api, stock=5)
    # Even the staff's token reaches no internal RPC.
    with channel(f"127.0.0.1:{api.port}", api.staff_token, identity=None) as staff:  # the edge is plaintext
        stub = catalog_pb2_grpc.CatalogServiceStub(staff)
        for call, request in [
            (stub.ReserveStock, catalog_pb2.ReserveStockRequest(reservation_id=str(uuid.uuid4()),
                                                                disc_id=disc["id"], quantity=5)),
            (stub.ReleaseStock, catalog_pb2.ReleaseStockRequest(reservation_id=str(uuid.uuid4()))),
            (stub.ReserveStocks, catalog_pb2.ReserveStocksRequest(reservations=[catalog_pb2.ReserveStockRequest(
                reservation_id=str(uuid.uuid4()), disc_id=disc["id"], quantity=5)])),
            (customers_pb2_grpc.CustomerServiceStub(staff).BatchGetCustomers,
             customers_pb2.BatchGetCustomersRequest(lookups=[customers_pb2.CustomerLookup(
                 id=str(uuid.uuid4()), bearer_token=api.staff_token)])),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # Public RPCs still pass through as gRPC.
        assert stub.GetDisc(catalog_pb2.GetDiscRequest(id=disc["id"]), timeout=5).stock == 5
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 5


def test_the_admin_interface_listens_on_loopback_only(gateway):
    text = gateway.config_path.read_text()
    admin = text.split("admin:", 1)[1].split("static_resources:", 1)[0]
    assert "address: 127.0.0.1" in admin


def test_a_stopped_service_is_a_quick_503(stack, tmp_path_factory):
    """Orders stopped (nothing listens on its port): 503 at once, and the others still answer."""
    upstreams = {**stack.addresses, "orders": free_address()}
    gateway = launch(upstreams, tmp_path_factory, stack.issuer)
    try:
        client = JsonClient(int(gateway.url.rsplit(":", 1)[1]), stack.issuer, stack.staff_token, stack.tokens)
        started = time.monotonic()
        body = assert_error(client.get("/v1/purchases"), 503, 14)
        assert time.monotonic() - started < 2
        assert "unavailable" in body["message"]
        assert client.get("/v1/discs", page_size=1).status == 200
    finally:
        stop([gateway.process])
