"""What the catalog does, independent of gRPC: the Catalog's methods, on the store it is given."""

from __future__ import annotations

from ..runtime.errors import InvalidArgument, NotFound, ServiceError
from ..runtime.idempotency import RequestIdReused
from ..runtime.pagination import UUID, cut_page, decode_token
from ..runtime.store import Store, present
from .errors import ReservationIdReused, ReservationIdTaken, RestockIdTaken
from .faults import crash_point
from .model import MAX_STOCK, Disc, DiscFilter, NewDisc, Reservation, StockRequest, layers
from .repository import CatalogRepository


class Catalog:
    def __init__(self, store: Store[CatalogRepository]):
        self._store = store

    async def create_disc(self, disc: NewDisc, request_id: str | None) -> Disc:
        async with self._store.autocommit() as repo:
            created = await repo.create_disc(disc, request_id)
            if created is None and request_id is not None:  # seen before: AIP-155 says answer with the first result
                created = present(await repo.get_disc_by_request_id(request_id), f"disc of request {request_id!r}")
                if not created.is_for(disc):  # ... of the same request, not of another under the same id
                    raise RequestIdReused(request_id, "another disc")
            return present(created, "new disc")

    async def get_disc(self, disc_id: str) -> Disc:
        async with self._store.autocommit() as repo:
            disc = await repo.get_disc(disc_id)
        if disc is None:
            raise NotFound("disc", disc_id)
        return disc

    async def list_discs(self, where: DiscFilter, page_size: int, page_token: str) -> tuple[list[Disc], str]:
        filters = vars(where)
        after = decode_token(page_token, filters, [UUID])
        async with self._store.autocommit() as repo:
            discs = await repo.list_discs(where, after[0] if after else None, page_size + 1)
        return cut_page(discs, page_size, filters, lambda disc: [disc.id])

    async def restock_disc(self, disc_id: str, quantity: int, request_id: str | None = None) -> Disc:
        """Adds units, as long as the stock stays within MAX_STOCK (checked by the UPDATE itself);
        under a request id, once: a retry answers with the disc as it is now and adds nothing."""
        try:
            async with self._store.autocommit() as repo:
                disc = await repo.restock_disc(disc_id, quantity, MAX_STOCK, request_id)
                if disc is not None:
                    return disc
        except RestockIdTaken:
            pass  # a concurrent duplicate added the units: its restock is read below
        async with self._store.autocommit() as repo:
            first = None if request_id is None else await repo.get_restock(request_id)
            if request_id is not None and first is not None:
                if (first.disc_id, first.quantity) != (disc_id, quantity):
                    raise RequestIdReused(request_id, f"restocking {first.quantity} unit(s) of disc {first.disc_id!r}")
                return present(await repo.get_disc(disc_id), f"disc {disc_id!r}")
            # Read only to explain the refusal: the decision was the UPDATE's, made atomically.
            current = await repo.get_disc(disc_id)
        if current is None:
            raise NotFound("disc", disc_id)
        room = max(0, MAX_STOCK - current.stock)
        raise InvalidArgument(
            "quantity",
            f"would take the stock beyond {MAX_STOCK} units: {current.stock} on hand, room for {room} more",
            "STOCK_LIMIT_EXCEEDED",
        )

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int) -> Reservation:
        """Takes `quantity` units of a disc once per reservation id; REJECTED when stock is short."""
        try:
            async with self._store.autocommit() as repo:
                reservation = await repo.reserve_stock(reservation_id, disc_id, quantity)
            if reservation is None:
                raise NotFound("disc", disc_id)
            return reservation
        except ReservationIdTaken:
            pass  # the id was used before, or concurrently: the first outcome stands
        async with self._store.autocommit() as repo:
            first = present(await repo.get_reservation(reservation_id), f"reservation {reservation_id!r}")
        if first.disc_id != disc_id or first.quantity != quantity:
            raise ReservationIdReused(first)
        return first

    async def reserve_stocks(self, asked: list[StockRequest]) -> list[Reservation | ServiceError]:
        """reserve_stock for each of `asked`, with one commit for all: one statement when no disc
        or id repeats, else a transaction (the discs locked in id order first, then one statement
        per layer, see model.layers). Each is answered as reserve_stock would answer it alone, in
        the order asked.

        What the statements leave out (an id used before, a disc that does not exist), and a batch
        that met a concurrent duplicate (rolled back whole), go through reserve_stock one by one.
        """
        made: dict[str, Reservation] = {}
        split = layers(asked)
        try:
            if len(split) == 1:  # one statement: atomic on its own, one round trip
                async with self._store.autocommit() as repo:
                    made.update((r.id, r) for r in await repo.reserve_stocks(split[0]))
            else:
                async with self._store.transaction() as repo:
                    await repo.lock_discs([r.disc_id for r in asked])
                    for layer in split:
                        made.update((r.id, r) for r in await repo.reserve_stocks(layer))
                    crash_point("mid_batch")
                    await repo.commit()
        except ReservationIdTaken:
            made = {}
        answers: list[Reservation | ServiceError] = []
        for request in asked:
            reservation = made.get(request.reservation_id)
            try:
                if reservation is None:
                    reservation = await self.reserve_stock(request.reservation_id, request.disc_id, request.quantity)
                elif (reservation.disc_id, reservation.quantity) != (request.disc_id, request.quantity):
                    raise ReservationIdReused(reservation)  # the same id twice in one batch, for other units
            except ServiceError as error:
                answers.append(error)
                continue
            answers.append(reservation)
        return answers

    async def release_stock(self, reservation_id: str) -> Reservation:
        """Gives a granted reservation's units back, once; any other state is returned unchanged."""
        async with self._store.autocommit() as repo:
            await repo.release_reservation(reservation_id)
            # Read committed: this statement's fresh snapshot shows a concurrent release's outcome too.
            reservation = await repo.get_reservation(reservation_id)
        if reservation is None:
            raise NotFound("reservation", reservation_id)
        return reservation
