"""Helpers for tests: unique test data and assertions on gRPC errors."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.catalog.access import ACCESS as CATALOG_ACCESS
from services.catalog.servicer import SERVICE as CATALOG_SERVICE
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog import repository as catalog_repository
from services.catalog.servicer import CatalogServicer
from services.catalog.usecases import Catalog
from devstack.pki import DevPki
from devstack.processes import PKI_DIR
from services.runtime import tls
from services.orders import app as orders_app
from services.runtime.auth import Access, Authenticator, AuthSettings
from services.runtime.config import ServerSettings
from services.runtime.db import Database
from services.runtime.feed import Feed
from services.runtime.guard import add_to_server
from services.runtime.server import CommonSettings, Running, create_server, start

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = {name: REPO_ROOT / "services" / name / "migrations" for name in ("customers", "catalog", "orders")}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def brl(units: int, cents: int = 0) -> money_pb2.Money:
    return money_pb2.Money(currency_code="BRL", units=units, nanos=cents * 10_000_000)


class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Sends `Authorization: Bearer <token>` with every call that does not carry its own."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def intercept_unary_unary(self, continuation, details, request):
        metadata = list(details.metadata or ())
        if not any(key == "authorization" for key, _ in metadata):
            details = details._replace(metadata=[*metadata, self._header])
        return continuation(details, request)

    intercept_unary_stream = intercept_unary_unary  # the change feeds' streams


def tls_as(name: str) -> tls.TlsFiles:
    """The certificate of identity `name` (a service, `gateway`, `client`) of the tests' CA."""
    pki = DevPki(Path(os.environ[PKI_DIR]))
    return tls.TlsFiles.of(pki.ca_path, pki.cert_path(name), pki.key_path(name))


def channel(address: str, token: str | None = None, identity: str | None = "client") -> grpc.Channel:
    """A channel to a service of the tests, over mutual TLS as `identity` (by default the tests'
    own, which is no service's; None: plaintext, as to the gateway), whose calls carry `token`
    (none: anonymous)."""
    opened = tls.channel(address, tls_as(identity)) if identity else grpc.insecure_channel(address)
    return grpc.intercept_channel(opened, Bearer(token)) if token else opened


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata acting as the owner of `token` (instead of the stubs' staff token)."""
    return (("authorization", f"Bearer {token}"),)


def as_customer(stack, customer_id: str) -> tuple[tuple[str, str]]:
    """Call metadata acting as a customer that create_customer signed up; for any other id, as a
    shopper who has not signed up (to whom every customer is NOT_FOUND)."""
    token = stack.tokens.get(customer_id)
    if token is None:
        token = stack.tokens.setdefault("", stack.issuer.customer_token("not-signed-up", ttl=24 * 3600))
    return bearer(token)


def customer_caller(stack, customer_id: str):
    """The verified Caller of a signed-up customer, for tests that call the use cases directly."""
    return stack.run(Authenticator.from_env().verify(stack.tokens[customer_id]))


def create_customer(stack, **fields) -> customers_pb2.Customer:
    """Signs up a new customer, as a shopper does: with its own token (a new subject), kept in
    stack.tokens for the calls made as that customer (buy)."""
    values = {"name": "Ana Souza", "email": f"{unique('ana')}@example.com", **fields}
    token = stack.issuer.customer_token(unique("subject"), ttl=24 * 3600)
    customer = stack.customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(**values)), metadata=bearer(token))
    stack.tokens[customer.id] = token
    return customer


def create_disc(stack, **fields) -> catalog_pb2.Disc:
    values = {"title": "Acabou Chorare", "artist": unique("Novos Baianos"), "genre": "MPB",
              "release_year": 1972, "price": brl(59, 90), "stock": 10, **fields}
    return stack.catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(**values)))


def buy(stack, customer_id: str, disc_id: str, quantity: int = 1, request_id: str = "",
        timeout: float = 10) -> orders_pb2.Purchase:
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=quantity),
        request_id=request_id)
    return stack.orders.CreatePurchase(request, timeout=timeout, metadata=as_customer(stack, customer_id))


def every_page(call, request_type, field: str, **request) -> list:
    """Every item of a listing, following next_page_token to the last page."""
    found, token = [], ""
    while True:
        page = call(request_type(page_token=token, **request))
        found.extend(getattr(page, field))
        token = page.next_page_token
        if not token:
            return found


def stock_of(stack, disc_id: str) -> int:
    return stack.catalog.GetDisc(catalog_pb2.GetDiscRequest(id=disc_id)).stock


def status_details(error: grpc.RpcError) -> list:
    """The google.rpc error details a server attached to `error`."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            found = []
            for packed in status.details:
                for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest,
                             error_details_pb2.ResourceInfo):
                    if packed.Is(kind.DESCRIPTOR):
                        detail = kind()
                        packed.Unpack(detail)
                        found.append(detail)
            return found
    return []


@contextmanager
def raises_status(code: grpc.StatusCode, field: str | None = None, reason: str | None = None):
    """Asserts the block fails with `code`; optionally the BadRequest field and ErrorInfo reason."""
    with pytest.raises(grpc.RpcError) as caught:
        yield caught
    error = caught.value
    assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
    details = status_details(error)
    if field is not None:
        fields = [v.field for d in details if isinstance(d, error_details_pb2.BadRequest) for v in d.field_violations]
        assert fields == [field], f"field violations {fields}, expected [{field!r}]"
        assert field in error.details()
    if reason is not None:
        reasons = [d.reason for d in details if isinstance(d, error_details_pb2.ErrorInfo)]
        assert reasons == [reason], f"reasons {reasons}, expected [{reason!r}]"


def adding(servicer, service=CATALOG_SERVICE, rules=CATALOG_ACCESS):
    """How a server of the tests' making serves `servicer` (the catalog's, unless `service` and
    `rules` say another), as the service's app wires it: behind the guard, its rules in force."""
    access = Access(service, rules, Authenticator.from_env())
    return lambda server: add_to_server(server, servicer, access)


def unwatched_feed(stack, service: str) -> Feed:
    """A feed of the service's schema for a servicer of the tests' own making, never started: its
    Watch method is not what such a test calls."""
    return Feed(service, stack.databases[service])


def catalog_on(database: Database) -> Catalog:
    """The catalog's use cases on `database`, for a servicer of the tests' own making."""
    return Catalog(catalog_repository.store(database))


class SlowCatalog(CatalogServicer):
    """The real catalog, answering ReserveStock and ReserveStocks only after `delay` seconds."""

    def __init__(self, catalog: Catalog, feed: Feed, delay: float):
        super().__init__(catalog, feed)
        self.delay = delay

    async def ReserveStock(self, request, context):
        await asyncio.sleep(self.delay)
        return await super().ReserveStock(request, context)

    async def ReserveStocks(self, request, context):
        await asyncio.sleep(self.delay)
        return await super().ReserveStocks(request, context)


async def start_slow_catalog(stack, delay: float):
    """A catalog server (on the services' loop) whose reservations take `delay` seconds."""
    host = create_server("127.0.0.1:0", [CATALOG_SERVICE_NAME],
                         adding(SlowCatalog(catalog_on(stack.databases["catalog"]), unwatched_feed(stack, "catalog"),
                                            delay)), None,
                         tls_files=tls_as("catalog"))
    await host.start()
    return host


def common_settings(name: str, auth: AuthSettings | None = None, url: str = "postgresql://unused") -> CommonSettings:
    """What a service of the tests runs with: a free loopback port, its own certificate of the
    tests' CA, the tests' token issuer (the environment's, unless `auth`). The database is the
    one the tests hand to runtime.server.start, already open; `url` is only recorded."""
    server = ServerSettings(listen_addr="127.0.0.1:0", database_url=url, pool_size=10, grace_seconds=1.0,
                            page_token_secret=None)
    return CommonSettings(server, auth or AuthSettings.from_env(), tls_as(name))


async def serve_orders(database: Database, customers_addr: str, catalog_addr: str, budget: float = 5.0,
                       auth: AuthSettings | None = None, recovery: bool = False) -> Running:
    """An orders service on the running loop, wired as its process is (services/orders/app.py),
    without the recovery loop unless asked: its purchase use cases are `.built.purchases`."""
    settings = orders_app.Settings(common_settings("orders", auth), customers_addr, catalog_addr,
                                   request_budget=budget, recovery=recovery)
    return await start(orders_app.APP, settings, database)


class Follower:
    """A change feed's stream (a Watch*Events call of a blocking stub), read in a thread: `items`
    is what arrived so far, `ended` the status that ended it (None while it runs)."""

    def __init__(self, call):
        self.call = call
        self.items: list = []
        self.ended: grpc.RpcError | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for item in self.call:
                with self._changed:
                    self.items.append(item)
                    self._changed.notify_all()
        except grpc.RpcError as error:
            with self._changed:
                self.ended = error
                self._changed.notify_all()

    def events(self) -> list:
        """What arrived, heartbeats left out."""
        return [item for item in list(self.items) if item.type != item.HEARTBEAT]

    def until(self, enough, timeout: float = 20.0) -> list:
        """Waits until `enough(items)` holds, or the stream ended; returns the items. A stream that
        ends first, or never gets there, fails the test with what it got."""
        with self._changed:
            if not self._changed.wait_for(lambda: enough(self.items) or self.ended is not None, timeout):
                raise AssertionError(f"the feed did not deliver in {timeout:.0f}s; got {len(self.items)} item(s)")
            if not enough(self.items):
                raise AssertionError(f"the feed ended ({self.ended.code().name}: {self.ended.details()}) "
                                     f"after {len(self.items)} item(s)")
            return list(self.items)

    def wait_ended(self, timeout: float = 20.0) -> grpc.RpcError:
        self._thread.join(timeout)
        assert self.ended is not None, "the feed did not end"
        return self.ended

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(10)


@contextmanager
def following(method, request, metadata=None):
    """A Follower of `method` (a stub's Watch*Events) sent `request`, cancelled at the end of the block."""
    follower = Follower(method(request, metadata=metadata))
    try:
        yield follower
    finally:
        follower.close()
