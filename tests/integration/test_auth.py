"""Nobody acts beyond their rights, over gRPC: every token is checked by the services themselves
(backends call them without the gateway), each method states who may call it, and another
customer's records are NOT_FOUND, exactly as records that do not exist."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2

from devstack.credentials import DevIssuer
from services.customers import app as customers_app
from services.runtime.auth import MAX_TOKEN_CHARACTERS, AuthSettings
from services.runtime.server import start
from tests.integration.test_recovery import wait_until
from tests.support import (as_customer, bearer, brl, buy, channel, common_settings, create_customer, create_disc,
                           raises_status, stock_of, unique)

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
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="ALREADY_SIGNED_UP"):  # her own email: not taken by another
        stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(name="Ana again", email=email.upper())), metadata=bearer(token))
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


def token_of_length(issuer: DevIssuer, subject: str, longest: int) -> str:
    """The longest customer token for `subject` of at most `longest` characters (claims padded)."""
    padding = longest * 3 // 4
    while len(token := issuer.mint(subject, ["customer"], ttl=600, claims_padding="x" * padding)) > longest:
        padding -= 1
    return token


def test_a_token_too_long_to_forward_is_refused_where_it_enters_never_internal(stack):
    """Orders forwards the buyer's token to customers: one that filled orders' 16 KiB of metadata
    (15,781 characters) was refused on its way on, and the buyer got INTERNAL."""
    subject = unique("long-token")
    longest = token_of_length(stack.issuer, subject, MAX_TOKEN_CHARACTERS)
    assert len(longest) > MAX_TOKEN_CHARACTERS - 4
    customer = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(
        customer=customers_pb2.Customer(name="Ana Longa", email=f"{unique('longa')}@example.com")),
        metadata=bearer(longest))
    disc = create_disc(stack, stock=3)
    order = orders_pb2.CreatePurchaseRequest(purchase=orders_pb2.Purchase(customer_id=customer.id, disc_id=disc.id,
                                                                          quantity=1))
    assert stack.orders.CreatePurchase(order, metadata=bearer(longest), timeout=10).effective  # forwarded, it fits
    for length in (MAX_TOKEN_CHARACTERS + 100, 15_781, 15_782):
        with raises_status(UNAUTHENTICATED, reason="TOKEN_INVALID") as refused:
            stack.orders.CreatePurchase(order, metadata=bearer(token_of_length(stack.issuer, subject, length)),
                                        timeout=10)
        assert f"longer than {MAX_TOKEN_CHARACTERS} characters" in refused.value.details()
    assert stock_of(stack, disc.id) == 2


def published(jwks: Path, *issuers: DevIssuer) -> None:
    """Writes the JWKS at `jwks` with the keys of `issuers`, at once (replaced whole, as a deploy would)."""
    keys = [key for issuer in issuers for key in json.loads(issuer.jwks_path.read_text())["keys"]]
    partial = jwks.with_suffix(".tmp")
    partial.write_text(json.dumps({"keys": keys}))
    partial.replace(jwks)


def test_a_key_removed_from_the_jwks_ends_the_tokens_it_signed_even_those_already_verified(stack, tmp_path):
    old, new = DevIssuer(tmp_path / "old").ensure(), DevIssuer(tmp_path / "new").ensure()
    jwks = tmp_path / "jwks.json"
    published(jwks, old, new)
    with customers_verifying(stack, AuthSettings(old.issuer, old.audience, jwks_file=jwks)) as list_as:
        remembered = old.staff_token()
        for _ in range(2):
            list_as(old, remembered)  # verified, then taken from the verified tokens
        published(jwks, new)  # the old key is withdrawn
        a_removed_key_ends_its_tokens(list_as, old, new, remembered)  # the file is read again within a second


@contextlib.contextmanager
def customers_verifying(stack, auth: AuthSettings):
    """A customers service of its own, verifying tokens with `auth`; yields list_as(issuer, token),
    a ListCustomers call with `token` (else a fresh staff token of `issuer`)."""
    running = stack.run(start(customers_app.APP, customers_app.Settings(common_settings("customers", auth)),
                              stack.databases["customers"]))
    try:
        with channel(f"127.0.0.1:{running.port}") as direct:
            customers = customers_pb2_grpc.CustomerServiceStub(direct)

            def list_as(issuer: DevIssuer, token: str | None = None):
                return customers.ListCustomers(customers_pb2.ListCustomersRequest(page_size=1), timeout=10,
                                               metadata=bearer(token or issuer.staff_token()))

            yield list_as
    finally:
        stack.run(running.stop(0))


def a_removed_key_ends_its_tokens(list_as, old, new, remembered: str) -> None:
    """Once the old key is withdrawn, its token, verified before, is refused within the key
    source's bound (TOKEN_INVALID, in our words), and the key that stays still signs."""

    def refused() -> bool:
        try:
            list_as(old, remembered)
        except grpc.RpcError as error:
            assert error.code() == UNAUTHENTICATED, error
            return True
        return False

    wait_until(refused, timeout=10)
    with raises_status(UNAUTHENTICATED, reason="TOKEN_INVALID") as caught:
        list_as(old, remembered)
    assert "key the issuer does not publish" in caught.value.details()
    list_as(new)


class JwksServer:
    """An identity provider's jwks_uri on loopback: the file `jwks` as it is at each request, or a
    500 while `failing`; `requests` counts what it was asked."""

    def __init__(self, jwks: Path):
        self.failing = False
        self.requests = 0
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                served.requests += 1
                body = b"down" if served.failing else jwks.read_bytes()
                self.send_response(500 if served.failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_jwks_url_is_read_again_every_refresh_a_removed_key_ends_its_tokens_and_an_outage_keeps_the_keys(
        stack, tmp_path):
    old, new = DevIssuer(tmp_path / "old").ensure(), DevIssuer(tmp_path / "new").ensure()
    jwks = tmp_path / "jwks.json"
    published(jwks, old, new)
    provider = JwksServer(jwks)
    auth = AuthSettings(old.issuer, old.audience, jwks_url=provider.url, jwks_refresh_seconds=0.3)
    try:
        with customers_verifying(stack, auth) as list_as:
            remembered = old.staff_token()
            for _ in range(2):
                list_as(old, remembered)  # verified, then taken from the verified tokens
            # The provider fails: the keys last fetched stay, as the gateway keeps them.
            provider.failing = True
            asked = provider.requests

            def served_through_failed_fetches() -> bool:
                list_as(old, remembered)
                list_as(new)
                return provider.requests > asked + 1

            wait_until(served_through_failed_fetches, timeout=10)
            provider.failing = False
            published(jwks, new)  # the old key is withdrawn
            a_removed_key_ends_its_tokens(list_as, old, new, remembered)  # fetched again once its refresh passed
    finally:
        provider.close()
