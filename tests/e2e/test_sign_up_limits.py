"""Sign-up attempts are limited per customer's subject and per client address, at the gateway,
before any service (issue 20, section 5; the policy is in docs/edge.md): JSON and gRPC count
alike, the staff's registrations count per address only."""

from __future__ import annotations

import uuid

from recordstore.customers.v1 import customers_pb2

from bench.h2c import call_once, grpc_frame
from devstack.gateway import GatewayLimits
from devstack.processes import stop
from tests.e2e.conftest import JsonClient, launch

CREATE_CUSTOMER = "/recordstore.customers.v1.CustomerService/CreateCustomer"
PER_SUBJECT = 5  # a minute, gateway/envoy.yaml


def sign_up(client: JsonClient, token: str, email: str | None = None):
    return client.request("POST", "/v1/customers", body={"name": "Ana", "email": email or f"{uuid.uuid4().hex}@example.com"},
                          authorization=f"Bearer {token}")


def sign_up_over_grpc(port: int, token: str):
    message = customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
        name="Ana", email=f"{uuid.uuid4().hex}@example.com")).SerializeToString()
    return call_once(f"127.0.0.1:{port}", CREATE_CUSTOMER, [("authorization", f"Bearer {token}")], body=grpc_frame(message))


def assert_rate_limited(reply) -> None:
    assert reply.status == 429, reply.text
    assert reply.json["code"] == 8 and reply.json["details"][0]["reason"] == "RATE_LIMITED"


def test_a_subject_probing_emails_is_stopped_after_five_attempts_a_minute(stack, api, tmp_path_factory):
    taken = api.post("/v1/customers", {"name": "Bia", "email": f"{uuid.uuid4().hex}@example.com"}).json["email"]
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer, limits=GatewayLimits(sign_ups_per_address=1000))
    try:
        port = int(gateway.url.rsplit(":", 1)[1])
        client = JsonClient(port)
        prober = stack.issuer.customer_token(f"prober-{uuid.uuid4().hex[:8]}")
        for _ in range(PER_SUBJECT - 1):  # each tells the address is taken...
            reply = sign_up(client, prober, taken)
            assert reply.status == 409 and reply.json["details"][0]["reason"] == "EMAIL_TAKEN"
        answer = sign_up_over_grpc(port, prober)  # ...over gRPC too: the same count
        assert answer.grpc_status == 0, answer.grpc_message  # the fifth signs up
        assert_rate_limited(sign_up(client, prober, taken))
        refused = sign_up_over_grpc(port, prober)
        assert refused.grpc_status == 8 and refused.grpc_message == "too many requests from this client: retry later"
        # Another subject from the same address is not held back by the first one's count.
        assert sign_up(client, stack.issuer.customer_token(f"other-{uuid.uuid4().hex[:8]}")).status == 200
    finally:
        stop([gateway.process])


def test_the_staff_registering_customers_is_not_a_sign_up(stack, tmp_path_factory):
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer, limits=GatewayLimits(sign_ups_per_address=1000))
    try:
        client = JsonClient(int(gateway.url.rsplit(":", 1)[1]))
        for _ in range(PER_SUBJECT + 2):
            assert sign_up(client, stack.staff_token).status == 200
    finally:
        stop([gateway.process])


def test_sign_ups_from_one_address_are_limited_whoever_signs(stack, tmp_path_factory):
    per_address = 3
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer,
                     limits=GatewayLimits(sign_ups_per_address=per_address))
    try:
        client = JsonClient(int(gateway.url.rsplit(":", 1)[1]))
        shoppers = [stack.issuer.customer_token(f"shopper-{uuid.uuid4().hex[:8]}") for _ in range(per_address + 1)]
        for token in shoppers[:per_address]:
            assert sign_up(client, token).status == 200
        assert_rate_limited(sign_up(client, shoppers[-1]))
        assert_rate_limited(sign_up(client, stack.staff_token))
        # Nothing else is limited: reading and buying go on.
        assert client.request("GET", "/v1/discs?page_size=1", authorization=None).status == 200
    finally:
        stop([gateway.process])
