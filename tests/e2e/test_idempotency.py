"""A create is safe to retry wherever the client puts its request id: the query string, the body,
or the Idempotency-Key header JSON APIs use (and gRPC metadata of the same name)."""

from __future__ import annotations

import uuid

import grpc
from recordstore.orders.v1 import orders_pb2

from tests.e2e.test_json_api import new_customer, new_disc, purchase
from tests.e2e.test_json_errors import assert_error
from services.runtime.idempotency import key_to_request_id
from tests.support import as_customer, raises_status


def purchases_of(api, customer_id) -> list:
    return api.get("/v1/purchases", customer_id=customer_id).json["purchases"]


def field_of(body) -> str:
    return next(d for d in body["details"] if d["@type"].endswith("BadRequest"))["field_violations"][0]["field"]


def test_a_request_id_in_the_body_makes_the_retry_safe(api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    request_id = str(uuid.uuid4())
    body = {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1, "request_id": request_id}
    answers = [api.post("/v1/purchases", body).json for _ in range(3)]
    assert answers[0] == answers[1] == answers[2] and answers[0]["request_id"] == request_id
    assert len(purchases_of(api, customer["id"])) == 1
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 4


def test_the_idempotency_key_header_makes_the_retry_safe(api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    key = f"order-{uuid.uuid4().hex}"  # any visible ASCII, as Stripe's keys are
    body = {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 2}
    answers = [api.request("POST", "/v1/purchases", body=body, headers={"Idempotency-Key": key}).json
               for _ in range(3)]
    assert answers[0] == answers[1] == answers[2] and answers[0]["state"] == "CONFIRMED"
    assert len(purchases_of(api, customer["id"])) == 1
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 3
    # A UUID key is the request id itself, and the query parameter may repeat it.
    uuid_key = str(uuid.uuid4())
    first = api.request("POST", f"/v1/purchases?request_id={uuid_key}", body=body,
                        headers={"Idempotency-Key": uuid_key}).json
    assert first["request_id"] == uuid_key


def test_two_customers_may_pick_the_same_key(api):
    disc = new_disc(api, stock=5)
    key = f"cart-{uuid.uuid4().hex[:6]}"
    ids = set()
    for _ in range(2):
        customer = new_customer(api)
        reply = api.request("POST", "/v1/purchases", headers={"Idempotency-Key": key},
                            body={"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1})
        assert reply.status == 200, reply.text
        ids.add(reply.json["id"])
    assert len(ids) == 2


def test_a_customer_signup_retried_with_a_key_is_one_customer(api):
    key = uuid.uuid4().hex
    body = {"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"}
    shopper = f"Bearer {api.issuer.customer_token(f'ana-{key}')}"
    answers = [api.request("POST", "/v1/customers", body=body, headers={"Idempotency-Key": key},
                           authorization=shopper).json for _ in range(2)]
    assert answers[0]["id"] == answers[1]["id"]


def test_two_different_request_ids_in_one_request_are_refused(api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    body = {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1, "request_id": str(uuid.uuid4())}
    reply = purchase(api, customer["id"], disc["id"], 1, request_id=str(uuid.uuid4()))
    assert reply.status == 200  # one id: fine
    both = api.request("POST", f"/v1/purchases?request_id={uuid.uuid4()}", body=body)
    assert field_of(assert_error(both, 400, 3)) == "purchase.request_id"
    header = api.request("POST", "/v1/purchases", body=body, headers={"Idempotency-Key": "another"})
    assert field_of(assert_error(header, 400, 3)) == "Idempotency-Key"
    for bad in ("x" * 256, "clé", "a\tb", "a b"):
        reply = api.request("POST", "/v1/customers", body={"name": "A", "email": f"{uuid.uuid4().hex}@example.com"},
                            headers={"Idempotency-Key": bad.encode("utf-8").decode("latin-1")})
        assert field_of(assert_error(reply, 400, 3)) == "Idempotency-Key"
    assert len(purchases_of(api, customer["id"])) == 1


def test_grpc_clients_may_send_the_key_as_metadata(stack, api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer["id"], disc_id=disc["id"], quantity=1))
    key = (("idempotency-key", f"k-{uuid.uuid4().hex}"),)
    key += as_customer(stack, customer["id"])
    first = stack.orders.CreatePurchase(request, metadata=key, timeout=10)
    again = stack.orders.CreatePurchase(request, metadata=key, timeout=10)
    assert first.id == again.id


def test_two_different_keys_in_one_call_are_refused(stack, api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer["id"], disc_id=disc["id"], quantity=1))
    buyer = as_customer(stack, customer["id"])
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="Idempotency-Key"):
        stack.orders.CreatePurchase(request, metadata=(("idempotency-key", "k1"), ("idempotency-key", "k2"), *buyer),
                                    timeout=10)
    same = stack.orders.CreatePurchase(request, metadata=(("idempotency-key", "k1"), ("idempotency-key", "k1"), *buyer),
                                       timeout=10)
    assert same.state == orders_pb2.Purchase.CONFIRMED


def test_a_customer_cannot_take_or_probe_another_customers_request_id(api):
    """Request ids are each buyer's own. A key maps to a UUID v5 anyone can compute from the
    customer id and the key: were ids shared by all buyers, Bob could use Ana's first (her
    purchase then refused as REQUEST_ID_REUSED) and learn from a refusal which keys she used."""
    disc = new_disc(api, stock=10)
    ana, bob = new_customer(api), new_customer(api)
    taken, used = (key_to_request_id(key, ana["id"]) for key in ("cart-1", "cart-2"))

    bobs = purchase(api, bob["id"], disc["id"], 1, request_id=taken)
    assert bobs.status == 200, bobs.text
    anas = api.request("POST", "/v1/purchases", headers={"Idempotency-Key": "cart-1"},
                       body={"customer_id": ana["id"], "disc_id": disc["id"], "quantity": 2})
    assert anas.status == 200, anas.text
    assert anas.json["id"] != bobs.json["id"] and anas.json["quantity"] == 2

    assert api.request("POST", "/v1/purchases", headers={"Idempotency-Key": "cart-2"},
                       body={"customer_id": ana["id"], "disc_id": disc["id"], "quantity": 1}).status == 200
    probe = purchase(api, bob["id"], disc["id"], 3, request_id=used)  # another order under Ana's used id
    assert probe.status == 200, probe.text
    assert sorted(p["quantity"] for p in purchases_of(api, bob["id"])) == [1, 3]
    # Within one buyer the id still names one request.
    again = purchase(api, bob["id"], disc["id"], 2, request_id=used)
    reasons = [d.get("reason") for d in assert_error(again, 409, 6)["details"]]  # 6: ALREADY_EXISTS
    assert "REQUEST_ID_REUSED" in reasons


def reasons_of(body) -> list:
    return [d.get("reason") for d in body["details"] if d["@type"].endswith("ErrorInfo")]


def test_a_key_sent_again_with_another_disc_or_customer_is_refused_naming_the_key(api):
    """The same key with a different body answered 200 with the first resource, silently."""
    key = f"import-{uuid.uuid4().hex[:8]}"
    disc = new_disc(api, title="T1")
    body = {"title": "T1", "artist": disc["artist"], "genre": "MPB", "release_year": 1972,
            "price": {"currency_code": "BRL", "units": 59, "nanos": 900_000_000}, "stock": 3}
    first = api.request("POST", "/v1/discs", body=body, headers={"Idempotency-Key": key})
    assert first.status == 200, first.text
    again = api.request("POST", "/v1/discs", body=body, headers={"Idempotency-Key": key})
    assert again.json == first.json
    other = api.request("POST", "/v1/discs", body={**body, "title": "T2"}, headers={"Idempotency-Key": key})
    refused = assert_error(other, 409, 6)
    assert reasons_of(refused) == ["REQUEST_ID_REUSED"]
    assert f"Idempotency-Key '{key}'" in refused["message"]
    assert key_to_request_id(key, "disc") not in refused["message"]  # a UUID the client never saw

    shopper = f"Bearer {api.issuer.customer_token(f'shopper-{key}')}"
    signup = {"name": "Ana", "email": f"{uuid.uuid4().hex}@example.com"}
    first = api.request("POST", "/v1/customers", body=signup, headers={"Idempotency-Key": key}, authorization=shopper)
    assert first.status == 200, first.text
    other = api.request("POST", "/v1/customers", body={**signup, "name": "Bia"}, headers={"Idempotency-Key": key},
                        authorization=shopper)
    assert reasons_of(assert_error(other, 409, 6)) == ["REQUEST_ID_REUSED"]


def test_a_restock_sent_again_with_its_key_adds_the_units_once(api):
    disc = new_disc(api, stock=3)
    key = f"delivery-{uuid.uuid4().hex[:8]}"
    answers = [api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 5},
                           headers={"Idempotency-Key": key}) for _ in range(2)]
    assert [a.status for a in answers] == [200, 200], answers[0].text
    assert answers[0].json["stock"] == answers[1].json["stock"] == 8
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 8
    other = api.request("POST", f"/v1/discs/{disc['id']}:restock", body={"quantity": 6},
                        headers={"Idempotency-Key": key})
    assert reasons_of(assert_error(other, 409, 6)) == ["REQUEST_ID_REUSED"]


def test_deactivate_and_cancel_refuse_a_key_they_would_ignore(api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    bought = purchase(api, customer["id"], disc["id"], 2)
    assert bought.status == 200, bought.text
    as_buyer = f"Bearer {api.tokens[customer['id']]}"
    for path, authorization in ((f"/v1/purchases/{bought.json['id']}:cancel", as_buyer),
                                (f"/v1/customers/{customer['id']}:deactivate", "default")):
        reply = api.request("POST", path, body={}, headers={"Idempotency-Key": "once"}, authorization=authorization)
        refused = assert_error(reply, 400, 3)
        assert field_of(refused) == "Idempotency-Key" and reasons_of(refused) == ["IDEMPOTENCY_KEY_NOT_ACCEPTED"]
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 3  # refused before anything changed
    assert api.get(f"/v1/customers/{customer['id']}").json["state"] == "ACTIVE"
