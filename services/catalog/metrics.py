"""The catalog's own metrics: stock reservations granted and rejected.

Counted where the reservation row is made (reserve_stock returns a reservation only to the call
that made it; a repeated id is refused), so a retried ReserveStock is counted once.
"""

from __future__ import annotations

from ..runtime import metrics
from ..runtime.db import Database
from ..runtime.store import Store
from .model import Reservation, ReservationState
from .repository import CatalogRepository

_MADE = {state: metrics.RESERVATIONS.labels(state.value) for state in ReservationState}


class CountingRepository(CatalogRepository):
    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int) -> Reservation | None:
        made = await super().reserve_stock(reservation_id, disc_id, quantity)
        if made is not None:
            _MADE[made.state].inc()
        return made


def store(database: Database) -> Store[CatalogRepository]:
    return Store(database, CountingRepository)
