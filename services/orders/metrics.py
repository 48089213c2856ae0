"""The orders service's own metrics: purchases by outcome, and the recovery backlog.

Counted where a purchase's state changes in the database (the repository's transitions return the
row only to the one caller that made the change), so a purchase is counted once, whether its
RPC, a client's retry or the recovery loop settled it, and whichever replica did.
"""

from __future__ import annotations

from ..runtime import metrics
from ..runtime.db import Database
from ..runtime.store import Store
from .model import Purchase, PurchaseState, Settlement
from .repository import PurchaseRepository

_SETTLED = {
    PurchaseState.CONFIRMED: metrics.PURCHASES.labels("effective"),
    PurchaseState.REJECTED: metrics.PURCHASES.labels("not_effective"),
}
_CANCELLED = metrics.PURCHASES.labels("cancelled")
_FAILED = metrics.PURCHASES.labels("failed")


class CountingRepository(PurchaseRepository):
    async def settle_purchase(
        self, purchase_id: str, granted: bool, unit_price_cents: int, currency: str
    ) -> Purchase | None:
        settled = await super().settle_purchase(purchase_id, granted, unit_price_cents, currency)
        if settled is not None:
            _SETTLED[settled.state].inc()
        return settled

    async def settle_purchases(self, outcomes: list[Settlement]) -> list[Purchase]:
        settled = await super().settle_purchases(outcomes)
        for purchase in settled:
            _SETTLED[purchase.state].inc()
        return settled

    async def finish_cancellation(self, purchase_id: str) -> Purchase | None:
        cancelled = await super().finish_cancellation(purchase_id)
        if cancelled is not None:
            _CANCELLED.inc()
        return cancelled

    async def finish_failure(self, purchase_id: str) -> Purchase | None:
        failed = await super().finish_failure(purchase_id)
        if failed is not None:
            _FAILED.inc()
        return failed

    async def list_unfinished_purchases(
        self, older_than_seconds: float, limit: int, max_attempts: int
    ) -> list[Purchase]:
        """The recovery round's work list; the backlog gauges are read with it, once a round."""
        unfinished = await super().list_unfinished_purchases(older_than_seconds, limit, max_attempts)
        count, oldest = await self.recovery_backlog()
        metrics.RECOVERY_BACKLOG.set(count)
        metrics.RECOVERY_OLDEST.set(oldest)
        return unfinished


def store(database: Database) -> Store[PurchaseRepository]:
    return Store(database, CountingRepository)
