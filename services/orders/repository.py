"""The orders service's SQL, one method per named query in queries.sql.

Purchases are counted by outcome (recordstore_purchases_total) where their state changes: the
transitions return the row only to the one caller that made the change, so a purchase is counted
once, whether its RPC, a client's retry or the recovery loop settled it, and whichever replica did.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..runtime import metrics
from ..runtime.db import Database, Refused
from ..runtime.queries import load_queries
from ..runtime.store import Repository, Store
from .errors import RecordRefused
from .model import PendingPurchase, Purchase, PurchaseFilter, PurchaseState, Settlement

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
# Every query may name any state: %(pending)s is PurchaseState.PENDING (see queries.sql).
STATES = {state.name.lower(): state for state in PurchaseState}
_SETTLED = {
    PurchaseState.CONFIRMED: metrics.PURCHASES.labels("effective"),
    PurchaseState.REJECTED: metrics.PURCHASES.labels("not_effective"),
}
_CANCELLED = metrics.PURCHASES.labels("cancelled")
_FAILED = metrics.PURCHASES.labels("failed")


def list_purchases_params(where: PurchaseFilter, after: tuple[datetime, str] | None, limit: int) -> dict:
    after_time, after_id = after if after else (None, None)
    return {
        "customer_id": where.customer_id,
        "customer_subject": where.customer_subject,
        "start_time": where.start_time,
        "end_time": where.end_time,
        "after_time": after_time,
        "after_id": after_id,
        "limit": limit,
    }


class PurchaseRepository(Repository):
    async def _one(self, name: str, params: dict) -> Purchase | None:
        try:
            return await self._connection.one_record(Purchase, QUERIES[name], {**STATES, **params})
        except Refused as refused:
            raise RecordRefused(refused.message) from None

    async def _all(self, name: str, params: dict) -> list[Purchase]:
        try:
            return await self._connection.all_records(Purchase, QUERIES[name], {**STATES, **params})
        except Refused as refused:
            raise RecordRefused(refused.message) from None

    async def insert_pending_purchase(self, pending: PendingPurchase) -> Purchase | None:
        """The new pending purchase; None when its request id was already used (by its recorder,
        for its customer)."""
        return await self._one(
            "insert_pending_purchase",
            {
                "request_id": pending.request_id,
                "customer_id": pending.order.customer_id,
                "disc_id": pending.order.disc_id,
                "quantity": pending.order.quantity,
                "customer_subject": pending.customer_subject,
                "recorded_by": pending.recorded_by,
            },
        )

    async def insert_pending_purchases(self, asked: list[PendingPurchase]) -> list[Purchase]:
        """The new pending purchases of `asked`, in one statement; those whose request id was
        used before (or repeats in `asked`) are left out."""
        params = {
            "request_ids": [a.request_id for a in asked],
            "customer_ids": [a.order.customer_id for a in asked],
            "disc_ids": [a.order.disc_id for a in asked],
            "quantities": [a.order.quantity for a in asked],
            "customer_subjects": [a.customer_subject for a in asked],
            "recorded_bys": [a.recorded_by for a in asked],
        }
        return await self._all("insert_pending_purchases", params)

    async def get_purchase_by_request_id(
        self, customer_id: str, recorded_by: str | None, request_id: str
    ) -> Purchase | None:
        """The purchase of that request id, for that customer, by that recorder: request ids are
        each customer's and recorder's own."""
        return await self._one(
            "get_purchase_by_request_id",
            {"customer_id": customer_id, "recorded_by": recorded_by, "request_id": request_id},
        )

    async def get_purchase(self, purchase_id: str) -> Purchase | None:
        return await self._one("get_purchase", {"id": purchase_id})

    async def settle_purchase(
        self, purchase_id: str, granted: bool, unit_price_cents: int, currency: str
    ) -> Purchase | None:
        settled = await self._one(
            "settle_purchase",
            {"id": purchase_id, "granted": granted, "unit_price_cents": unit_price_cents, "currency": currency},
        )
        if settled is not None:
            _SETTLED[settled.state].inc()
        return settled

    async def settle_purchases(self, outcomes: list[Settlement]) -> list[Purchase]:
        """settle_purchase for each of `outcomes`, in one statement; those no longer pending are
        left out."""
        params = {
            "ids": [o.purchase_id for o in outcomes],
            "granted": [o.granted for o in outcomes],
            "unit_price_cents": [o.unit_price_cents for o in outcomes],
            "currencies": [o.currency for o in outcomes],
        }
        settled = await self._all("settle_purchases", params)
        for purchase in settled:
            _SETTLED[purchase.state].inc()
        return settled

    async def start_failure(self, purchase_id: str, reason: str) -> Purchase | None:
        return await self._one("start_failure", {"id": purchase_id, "reason": reason})

    async def finish_failure(self, purchase_id: str) -> Purchase | None:
        failed = await self._one("finish_failure", {"id": purchase_id})
        if failed is not None:
            _FAILED.inc()
        return failed

    async def record_failed_attempt(self, purchase_id: str) -> Purchase | None:
        return await self._one("record_failed_attempt", {"id": purchase_id})

    async def delete_pending_purchase(self, purchase_id: str) -> None:
        await self._connection.run(QUERIES["delete_pending_purchase"], {**STATES, "id": purchase_id})

    async def start_cancellation(self, purchase_id: str) -> Purchase | None:
        return await self._one("start_cancellation", {"id": purchase_id})

    async def finish_cancellation(self, purchase_id: str) -> Purchase | None:
        cancelled = await self._one("finish_cancellation", {"id": purchase_id})
        if cancelled is not None:
            _CANCELLED.inc()
        return cancelled

    async def list_purchases(
        self, where: PurchaseFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[Purchase]:
        return await self._all("list_purchases", list_purchases_params(where, after, limit))

    async def list_unfinished_purchases(
        self, older_than_seconds: float, limit: int, max_attempts: int
    ) -> list[Purchase]:
        """The recovery round's work list; the backlog gauges are read with it, once a round."""
        unfinished = await self._all(
            "list_unfinished_purchases",
            {"older_than_seconds": older_than_seconds, "limit": limit, "max_attempts": max_attempts},
        )
        count, oldest = await self.recovery_backlog()
        metrics.RECOVERY_BACKLOG.set(count)
        metrics.RECOVERY_OLDEST.set(oldest)
        return unfinished

    async def lease_purchase(self, purchase_id: str, lease_seconds: float, leased_by: str) -> Purchase | None:
        """The unfinished purchase, now leased to `leased_by`; None when another holds it or it is done."""
        return await self._one(
            "lease_purchase", {"id": purchase_id, "lease_seconds": lease_seconds, "leased_by": leased_by}
        )

    async def release_purchase_lease(self, purchase_id: str, leased_by: str) -> None:
        await self._connection.run(QUERIES["release_purchase_lease"], {"id": purchase_id, "leased_by": leased_by})

    async def recovery_backlog(self) -> tuple[int, float]:
        """How many purchases are unfinished, and the oldest one's age in seconds (0 when none)."""
        row = await self._connection.one(QUERIES["recovery_backlog"], STATES)
        return (row[0], row[1]) if row else (0, 0.0)


def store(database: Database) -> Store[PurchaseRepository]:
    """The one way the service (and its tests) reach its tables."""
    return Store(database, PurchaseRepository)
