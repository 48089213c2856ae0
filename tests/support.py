"""Helpers for tests: unique test data and assertions on gRPC errors."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog.servicer import CatalogServicer
from services.runtime.server import create_server

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = {name: REPO_ROOT / "services" / name / "migrations" for name in ("customers", "catalog", "orders")}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def brl(units: int, cents: int = 0) -> money_pb2.Money:
    return money_pb2.Money(currency_code="BRL", units=units, nanos=cents * 10_000_000)


def create_customer(stack, **fields) -> customers_pb2.Customer:
    values = {"name": "Ana Souza", "email": f"{unique('ana')}@example.com", **fields}
    return stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(**values)))


def create_disc(stack, **fields) -> catalog_pb2.Disc:
    values = {"title": "Acabou Chorare", "artist": unique("Novos Baianos"), "genre": "MPB",
              "release_year": 1972, "price": brl(59, 90), "stock": 10, **fields}
    return stack.catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(**values)))


def buy(stack, customer_id: str, disc_id: str, quantity: int = 1, request_id: str = "",
        timeout: float = 10) -> orders_pb2.Purchase:
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=quantity),
        request_id=request_id)
    return stack.orders.CreatePurchase(request, timeout=timeout)


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


class SlowCatalog(CatalogServicer):
    """The real catalog, answering ReserveStock only after `delay` seconds."""

    def __init__(self, db, delay: float):
        super().__init__(db)
        self.delay = delay

    async def ReserveStock(self, request, context):
        await asyncio.sleep(self.delay)
        return await super().ReserveStock(request, context)


async def start_slow_catalog(stack, delay: float):
    """A catalog server (on the services' loop) whose ReserveStock takes `delay` seconds."""
    host = create_server("127.0.0.1:0", [CATALOG_SERVICE_NAME],
                         lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(
                             SlowCatalog(stack.databases["catalog"], delay), s), None)
    await host.start()
    return host
