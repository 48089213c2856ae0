"""CatalogService over gRPC: proto in, one use case, proto out. No SQL here."""

from __future__ import annotations

from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from ..runtime import idempotency, rules
from ..runtime.auth import current_caller
from ..runtime.batching import answer_each, results_of
from ..runtime.feed import Event, Feed, Heartbeat, event_message, record_of
from ..runtime.money import from_cents
from ..runtime.timestamps import to_timestamp
from .model import Disc, DiscFilter, NewDisc, Reservation, ReservationState, StockRequest
from .usecases import Catalog

SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
SERVICE_NAME = SERVICE.full_name
# The one mapping of a reservation's states to the API's.
RESERVATION_STATES_TO_PROTO = {
    ReservationState.GRANTED: catalog_pb2.Reservation.GRANTED,
    ReservationState.REJECTED: catalog_pb2.Reservation.REJECTED,
    ReservationState.RELEASED: catalog_pb2.Reservation.RELEASED,
}
# The one mapping of the feed's event types (catalog.events.type, migration 0009) to the API's.
EVENT_TYPES_TO_PROTO = {
    "disc.created": catalog_pb2.DiscEvent.CREATED,
    "disc.stock_reserved": catalog_pb2.DiscEvent.STOCK_RESERVED,
    "disc.stock_released": catalog_pb2.DiscEvent.STOCK_RELEASED,
    "disc.restocked": catalog_pb2.DiscEvent.RESTOCKED,
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


def event_to_proto(item: Event | Heartbeat) -> catalog_pb2.DiscEvent:
    return event_message(catalog_pb2.DiscEvent, EVENT_TYPES_TO_PROTO, item, _disc_event_fields)


def _disc_event_fields(payload: dict) -> dict:
    return {
        "disc": disc_to_proto(record_of(Disc, payload["disc"])),
        "quantity": payload.get("quantity", 0),
        "reservation_id": payload.get("reservation_id", ""),
    }


def reservation_to_proto(reservation: Reservation) -> catalog_pb2.Reservation:
    return catalog_pb2.Reservation(
        id=reservation.id,
        disc_id=reservation.disc_id,
        quantity=reservation.quantity,
        state=RESERVATION_STATES_TO_PROTO[reservation.state],
        unit_price=from_cents(reservation.unit_price_cents, reservation.currency),
        create_time=to_timestamp(reservation.create_time),
        release_time=to_timestamp(reservation.release_time),
    )


def new_disc_from_proto(disc: catalog_pb2.Disc) -> NewDisc:
    """The disc as the rules in catalog.proto let it in (see runtime/rules.py)."""
    fields = rules.checked(disc, "disc")
    cents, currency = fields["price"]
    return NewDisc(
        title=fields["title"],
        artist=fields["artist"],
        genre=fields["genre"],
        release_year=fields["release_year"],
        price_cents=cents,
        currency=currency,
        stock=fields["stock"],
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog, feed: Feed):
        self._catalog = catalog
        self._feed = feed

    async def CreateDisc(self, request, context):
        disc = new_disc_from_proto(request.disc)
        # The staff is one scope: a key names one disc whoever of the staff sends it.
        request_id = idempotency.request_id(context, {"request_id": request.request_id}, scope="disc")
        created = await self._catalog.create_disc(disc, request_id)
        return disc_to_proto(created)

    async def GetDisc(self, request, context):
        return disc_to_proto(await self._catalog.get_disc(rules.checked(request)["id"]))

    async def ListDiscs(self, request, context):
        # Text filters are cleaned as the stored values were, so a decomposed "João" finds the
        # stored one; a year outside the stored range would only ever find nothing.
        fields = rules.checked(request)
        where = DiscFilter(
            artist=fields["artist"], title=fields["title"], genre=fields["genre"], release_year=fields["release_year"]
        )
        discs, token = await self._catalog.list_discs(where, fields["page_size"], request.page_token)
        return catalog_pb2.ListDiscsResponse(discs=[disc_to_proto(d) for d in discs], next_page_token=token)

    async def RestockDisc(self, request, context):
        fields = rules.checked(request)
        # Only the header names a restock's request (no field in the request): the staff is one
        # scope, as for CreateDisc, and a key names one restock whatever disc it is sent for.
        request_id = idempotency.request_id(context, {}, scope="restock")
        return disc_to_proto(await self._catalog.restock_disc(fields["id"], fields["quantity"], request_id))

    async def ReserveStock(self, request, context):
        fields = rules.checked(request)
        reservation = await self._catalog.reserve_stock(fields["reservation_id"], fields["disc_id"], fields["quantity"])
        return reservation_to_proto(reservation)

    async def ReserveStocks(self, request, context):
        async def checked(index: int, item) -> StockRequest:  # a reservation refused is refused alone
            return StockRequest(**rules.checked(item, f"reservations[{index}]"))

        asked = rules.checked(request)["reservations"]
        answers = await answer_each(asked, checked, self._catalog.reserve_stocks)
        return catalog_pb2.ReserveStocksResponse(
            results=results_of(answers, catalog_pb2.ReservationResult, "reservation", reservation_to_proto)
        )

    async def ReleaseStock(self, request, context):
        return reservation_to_proto(await self._catalog.release_stock(rules.checked(request)["reservation_id"]))

    async def WatchDiscEvents(self, request, context):
        after = rules.checked(request)["after_cursor"] or ""
        async for item in self._feed.watch(after, current_caller()):
            yield event_to_proto(item)
