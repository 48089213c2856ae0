"""CatalogService over gRPC: proto in, one use case, proto out. No SQL here."""

from __future__ import annotations

from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from ..runtime import idempotency, validation
from ..runtime.auth import Authenticator
from ..runtime.guard import guarded
from ..runtime.db import Database
from ..runtime.errors import InvalidArgument
from ..runtime.money import from_cents, price_to_cents
from ..runtime.pagination import page_size
from ..runtime.server import Built
from ..runtime.timestamps import to_timestamp
from . import usecases
from .access import ACCESS
from .model import MAX_STOCK, Disc, DiscFilter, NewDisc, Reservation

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
_RESERVATION_STATES = {
    "granted": catalog_pb2.Reservation.GRANTED,
    "rejected": catalog_pb2.Reservation.REJECTED,
    "released": catalog_pb2.Reservation.RELEASED,
}


def disc_to_proto(disc: Disc) -> catalog_pb2.Disc:
    return catalog_pb2.Disc(
        id=disc.id,
        title=disc.title,
        artist=disc.artist,
        genre=disc.genre,
        release_year=disc.release_year,
        price=from_cents(disc.price_cents, disc.currency),
        stock=disc.stock,
        create_time=to_timestamp(disc.create_time),
        update_time=to_timestamp(disc.update_time),
    )


def reservation_to_proto(reservation: Reservation) -> catalog_pb2.Reservation:
    return catalog_pb2.Reservation(
        id=reservation.id,
        disc_id=reservation.disc_id,
        quantity=reservation.quantity,
        state=_RESERVATION_STATES[reservation.state],
        unit_price=from_cents(reservation.unit_price_cents, reservation.currency),
        create_time=to_timestamp(reservation.create_time),
        release_time=to_timestamp(reservation.release_time),
    )


def four_digit_year(field: str, year: int) -> int:
    if not 1000 <= year <= 9999:
        raise InvalidArgument(field, f"must be a four-digit year, got {year}")
    return year


def new_disc_from_proto(disc: catalog_pb2.Disc) -> NewDisc:
    four_digit_year("disc.release_year", disc.release_year)
    if not 0 <= disc.stock <= MAX_STOCK:
        raise InvalidArgument("disc.stock", f"must be between 0 and {MAX_STOCK}, got {disc.stock}")
    if not disc.HasField("price"):
        raise InvalidArgument("disc.price", "is required")
    cents, currency = price_to_cents("disc.price", disc.price)
    return NewDisc(
        title=validation.require_text("disc.title", disc.title),
        artist=validation.require_text("disc.artist", disc.artist),
        genre=validation.require_text("disc.genre", disc.genre, max_length=50),
        release_year=disc.release_year,
        price_cents=cents,
        currency=currency,
        stock=disc.stock,
    )


def stock_quantity(quantity: int) -> int:
    """Units to restock or reserve: more than MAX_STOCK could never be on hand at once."""
    if not 0 < quantity <= MAX_STOCK:
        raise InvalidArgument("quantity", f"must be between 1 and {MAX_STOCK}, got {quantity}")
    return quantity


@guarded(SERVICE_NAME, ACCESS)
class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, db: Database, authenticator: Authenticator):
        self._db = db
        self.authenticator = authenticator

    async def CreateDisc(self, request, context):
        disc = new_disc_from_proto(request.disc)
        request_id = idempotency.request_id(context, {"request_id": request.request_id}, scope="disc")
        created = await usecases.create_disc(self._db, disc, request_id)
        return disc_to_proto(created)

    async def GetDisc(self, request, context):
        return disc_to_proto(await usecases.get_disc(self._db, validation.require_id("id", request.id)))

    async def ListDiscs(self, request, context):
        where = DiscFilter(
            # Cleaned as the stored values were, so a decomposed "João" finds the stored one.
            artist=validation.optional_text("artist", request.artist),
            title=validation.optional_text("title", request.title),
            genre=validation.optional_text("genre", request.genre),
            # 0 is no filter; any other year outside the stored range would only ever find nothing.
            release_year=four_digit_year("release_year", request.release_year) if request.release_year else None,
        )
        discs, token = await usecases.list_discs(self._db, where, page_size(request.page_size), request.page_token)
        return catalog_pb2.ListDiscsResponse(discs=[disc_to_proto(d) for d in discs], next_page_token=token)

    async def RestockDisc(self, request, context):
        disc_id = validation.require_id("id", request.id)
        quantity = stock_quantity(request.quantity)
        return disc_to_proto(await usecases.restock_disc(self._db, disc_id, quantity))

    async def ReserveStock(self, request, context):
        reservation = await usecases.reserve_stock(
            self._db,
            validation.require_id("reservation_id", request.reservation_id),
            validation.require_id("disc_id", request.disc_id),
            stock_quantity(request.quantity),
        )
        return reservation_to_proto(reservation)

    async def ReleaseStock(self, request, context):
        reservation_id = validation.require_id("reservation_id", request.reservation_id)
        return reservation_to_proto(await usecases.release_stock(self._db, reservation_id))


def add_to_server(db: Database, authenticator: Authenticator):
    def add(server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(db, authenticator), server)
    return add


async def build(db: Database) -> Built:
    """The servicers of a catalog process (see runtime.server.run_service); nothing else to close."""
    return Built(add_to_server(db, Authenticator.from_env()))
