"""Nobody acts beyond their rights, over gRPC: every token is checked by the services themselves
(backends call them without the gateway), each method states who may call it, and another
customer's records are NOT_FOUND, exactly as records that do not exist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from devstack.credentials import DevIssuer
from tests.support import (as_customer, bearer, brl, buy, create_customer, create_disc, raises_status, stock_of,
                           unique)

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def restock(stack, disc_id: str, metadata=()):
    return stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc_id, quantity=5), metadata=metadata,
                                     timeout=10)


def hs256(claims: dict, key: bytes) -> str:
    """A JWT signed with HMAC-SHA256 by hand (PyJWT itself refuses a public key as an HMAC secret)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def forged_tokens(issuer: DevIssuer, tmp_path) -> dict[str, tuple[str, str]]:
    """Staff tokens that must all be refused, each with the reason the services give."""
    now = int(time.time())
    claims = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "mallory", "roles": ["staff"],
              "iat": now, "exp": now + 600}
    customer = issuer.customer_token("mallory")
    head, _, signature = customer.split(".")
    as_staff = b64(json.dumps(claims).encode())
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "expired": (issuer.mint("mallory", ["staff"], iat=now - 7200, exp=now - 3600), "TOKEN_EXPIRED"),
        "wrong issuer": (issuer.mint("mallory", ["staff"], iss="https://evil.example"), "TOKEN_INVALID"),
        "wrong audience": (issuer.mint("mallory", ["staff"], aud="another-api"), "TOKEN_INVALID"),
        "alg none": (f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{as_staff}.", "TOKEN_INVALID"),
        # A customer's token whose claims were changed to the staff's: the signature no longer fits.
        "tampered": (f"{head}.{as_staff}.{signature}", "TOKEN_INVALID"),
        # Signed by a key that is not the issuer's, under the issuer's key id.
        "another key": (jwt.encode(claims, stranger_key, algorithm="ES256", headers={"kid": issuer.key_id()}),
                        "TOKEN_INVALID"),
        # HS256 keyed with the public JWKS: the classic algorithm confusion.
        "hs256 with the public key": (hs256(claims, issuer.jwks_path.read_bytes()), "TOKEN_INVALID"),
        "no subject": (issuer.mint("x", ["staff"], sub=None), "TOKEN_INVALID"),
        "not a jwt": ("not-a-jwt", "TOKEN_INVALID"),
    }


FORGED = ["expired", "wrong issuer", "wrong audience", "alg none", "tampered", "another key",
          "hs256 with the public key", "no subject", "not a jwt"]


@pytest.mark.parametrize("kind", FORGED)
def test_a_token_that_is_not_valid_is_unauthenticated_and_changes_nothing(stack, tmp_path, kind):
    disc = create_disc(stack, stock=3)
    token, reason = forged_tokens(stack.issuer, tmp_path)[kind]
    with raises_status(UNAUTHENTICATED, reason=reason):
        restock(stack, disc.id, bearer(token))
    # Even where anyone may call, a token sent must be valid: a client with a broken one is told.
    with raises_status(UNAUTHENTICATED, reason=reason):
        stack.catalog.GetDisc(catalog_pb2.GetDiscRequest(id=disc.id), metadata=bearer(token))
    assert stock_of(stack, disc.id) == 3


def test_an_authorization_that_is_not_a_bearer_token_is_no_token(stack):
    """RFC 6750, 3.1 (and Envoy's jwt_authn): another scheme shows no bearer token."""
    disc = create_disc(stack, stock=3)
    anonymous = (("authorization", ""),)  # the stubs' interceptor adds the staff's token to calls without one
    with raises_status(UNAUTHENTICATED, reason="TOKEN_MISSING"):
        restock(stack, disc.id, anonymous)
    with raises_status(UNAUTHENTICATED, reason="TOKEN_MISSING"):
        restock(stack, disc.id, (("authorization", "Basic c3RhZmY6c3RhZmY="),))
    assert stock_of(stack, disc.id) == 3


def test_anonymous_callers_browse_the_catalog_and_nothing_else(stack, anonymous_stubs):
    disc = create_disc(stack, stock=3)
    catalog, customers, orders = anonymous_stubs
    assert catalog.GetDisc(catalog_pb2.GetDiscRequest(id=disc.id), timeout=10).stock == 3
    assert catalog.ListDiscs(catalog_pb2.ListDiscsRequest(artist=disc.artist), timeout=10).discs[0].id == disc.id
    for call in [
        lambda: catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc.id, quantity=1000), timeout=10),
        lambda: catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
            title="Free", artist="Anyone", genre="X", release_year=2000, price=brl(0), stock=1_000_000)), timeout=10),
        lambda: customers.ListCustomers(customers_pb2.ListCustomersRequest(), timeout=10),
        lambda: customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
            name="Anon", email=f"{unique('anon')}@example.com")), timeout=10),
        lambda: orders.ListPurchases(orders_pb2.ListPurchasesRequest(), timeout=10),
    ]:
        with raises_status(UNAUTHENTICATED, reason="TOKEN_MISSING"):
            call()
    assert stock_of(stack, disc.id) == 3


@pytest.fixture
def anonymous_stubs(stack):
    from recordstore.catalog.v1 import catalog_pb2_grpc
    from recordstore.customers.v1 import customers_pb2_grpc
    from recordstore.orders.v1 import orders_pb2_grpc

    from tests.support import channel
    opened = [channel(stack.addresses[name]) for name in ("catalog", "customers", "orders")]
    yield (catalog_pb2_grpc.CatalogServiceStub(opened[0]), customers_pb2_grpc.CustomerServiceStub(opened[1]),
           orders_pb2_grpc.OrderServiceStub(opened[2]))
    for each in opened:
        each.close()


def test_a_customer_cannot_do_what_is_the_staffs(stack):
    disc, customer = create_disc(stack, stock=3), create_customer(stack)
    me = as_customer(stack, customer.id)
    with raises_status(PERMISSION_DENIED, reason="ROLE_REQUIRED"):
        restock(stack, disc.id, me)
    with raises_status(PERMISSION_DENIED, reason="ROLE_REQUIRED"):
        stack.catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
            title="Mine", artist="Me", genre="X", release_year=2000, price=brl(0), stock=10)), metadata=me)
    with raises_status(PERMISSION_DENIED, reason="ROLE_REQUIRED"):
        stack.customers.ListCustomers(customers_pb2.ListCustomersRequest(), metadata=me)
    assert stock_of(stack, disc.id) == 3


def test_signing_up_binds_the_customer_to_the_tokens_subject(stack):
    token = stack.issuer.customer_token(unique("ana"))
    email = f"{unique('ana')}@example.com"
    signed_up = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
        customer=customers_pb2.Customer(name="Ana", email=email)), metadata=bearer(token))
    assert stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=signed_up.id),
                                       metadata=bearer(token)) == signed_up
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="ALREADY_SIGNED_UP"):
        stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(name="Ana again", email=f"{unique('ana')}@example.com")),
            metadata=bearer(token))
    # The same subject with a fresh token (a later login) is the same customer.
    again = stack.issuer.customer_token(jwt.decode(token, options={"verify_signature": False})["sub"])
    assert stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=signed_up.id),
                                       metadata=bearer(again)).id == signed_up.id


def test_another_customers_record_is_not_found_and_stays_untouched(stack):
    ana, bia = create_customer(stack), create_customer(stack)
    as_bia = as_customer(stack, bia.id)
    with raises_status(NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=ana.id), metadata=as_bia)
    with raises_status(NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=ana.id), metadata=as_bia)
    assert stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=ana.id)).state == customers_pb2.Customer.ACTIVE
    # Its own record it may read and deactivate.
    own = stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=bia.id), metadata=as_bia)
    assert own.state == customers_pb2.Customer.DEACTIVATED


def test_a_customer_buys_as_itself_only(stack):
    ana, bia, disc = create_customer(stack), create_customer(stack), create_disc(stack, stock=5)
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=ana.id, disc_id=disc.id, quantity=2), request_id=str(uuid.uuid4()))
    with raises_status(NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        stack.orders.CreatePurchase(request, metadata=as_customer(stack, bia.id), timeout=10)
    # Nor as a shopper who never signed up (no customer is its own).
    with raises_status(NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        stack.orders.CreatePurchase(request, metadata=as_customer(stack, str(uuid.uuid4())), timeout=10)
    assert stock_of(stack, disc.id) == 5
    assert list(stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(customer_id=ana.id)).purchases) == []
    assert stack.orders.CreatePurchase(request, metadata=as_customer(stack, ana.id), timeout=10).effective


def test_another_customers_purchase_is_not_found_and_cannot_be_cancelled(stack):
    ana, bia, disc = create_customer(stack), create_customer(stack), create_disc(stack, stock=5)
    bought = buy(stack, ana.id, disc.id, quantity=2)
    as_ana, as_bia = as_customer(stack, ana.id), as_customer(stack, bia.id)
    with raises_status(NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=bought.id), metadata=as_bia)
    with raises_status(NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), metadata=as_bia, timeout=10)
    # The same answer as for an id that does not exist: the id leaks nothing.
    with raises_status(NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=str(uuid.uuid4())), metadata=as_bia)
    assert stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=bought.id)).state == orders_pb2.Purchase.CONFIRMED
    assert stock_of(stack, disc.id) == 3
    # Listings show a customer its own purchases only, whatever it filters on.
    assert list(stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(customer_id=ana.id),
                                           metadata=as_bia).purchases) == []
    assert list(stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(), metadata=as_bia).purchases) == []
    assert [p.id for p in stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(),
                                                     metadata=as_ana).purchases] == [bought.id]
    assert stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=bought.id), metadata=as_ana) == bought
    # The staff sees and cancels any.
    assert bought.id in {p.id for p in stack.orders.ListPurchases(
        orders_pb2.ListPurchasesRequest(customer_id=ana.id)).purchases}
    cancelled = stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    assert cancelled.state == orders_pb2.Purchase.CANCELLED and stock_of(stack, disc.id) == 5
