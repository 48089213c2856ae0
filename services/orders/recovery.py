"""Recovery: finishing the purchases a crash or an outage left unfinished, each leased to one
replica for its turn, its failed attempts counted; and the loop that runs a round every interval."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from ..runtime import metrics
from ..runtime.db import CONNECTION_ERRORS
from ..runtime.deadlines import Deadline
from ..runtime.errors import DeadlineExceeded, NotFound, ServiceError, Unavailable
from .model import Purchase, PurchaseState
from .usecases import Purchases

log = logging.getLogger(__name__)
# Whose recovery loop holds a lease (recover): this process, by host and pid.
LOCAL_REPLICA = f"{socket.gethostname()}:{os.getpid()}"
# Failures that pass: the next round (or a client retry) tries again, as often as it takes.
TRANSIENT_ERRORS = (Unavailable, DeadlineExceeded, TimeoutError, *CONNECTION_ERRORS)
# Recovery rounds that fail on a purchase for a reason it cannot classify: at the last, a pending
# purchase fails, and a cancelling or failing one (its units not given back) is left to an operator.
MAX_ATTEMPTS = 5
# Each state's series exists from the start at 0, so that an alert on its increase sees it.
for _state in (PurchaseState.CANCELLING, PurchaseState.FAILING):
    metrics.RECOVERY_GAVE_UP.labels(_state)


def describe(error: BaseException) -> str:
    if isinstance(error, ServiceError):
        return error.message
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


async def recover(
    purchases: Purchases,
    older_than_seconds: float,
    call_timeout: float,
    limit: int = 100,
    replica: str = LOCAL_REPLICA,
) -> int:
    """Advances purchases left unfinished (by a crash or a failed downstream call).

    Each purchase on its own: one that fails is logged with its id and reason and the others
    still get their turn. A passing failure (a peer or the database unreachable, a timeout)
    leaves it for the next round; any other counts as a failed attempt, and a pending purchase
    at MAX_ATTEMPTS fails for good. Returns how many it finished. Each purchase is leased to
    `replica` for its turn, so that the loops of several orders replicas never work on one
    purchase at once (see migration 0004).
    """
    async with purchases.store.autocommit() as repo:
        unfinished = await repo.list_unfinished_purchases(older_than_seconds, limit, MAX_ATTEMPTS)
    finished = 0
    for listed in unfinished:
        purchase = await _lease(purchases, listed.id, call_timeout, replica)
        if purchase is None:
            continue  # another replica's loop is on it, or has just finished it
        try:
            await purchases.advance(purchase, Deadline(call_timeout))
            finished += 1
        except NotFound:
            finished += 1  # the disc does not exist: the pending purchase was dropped
        except TRANSIENT_ERRORS as error:
            log.warning("recovery of purchase %s (%s) postponed: %s", purchase.id, purchase.state, describe(error))
        except Exception as error:  # noqa: BLE001 - one purchase never stops the round
            finished += await _count_failed_attempt(purchases, purchase, error, call_timeout)
        finally:
            await _release_lease(purchases, purchase.id, replica)
    if finished:
        log.info("recovery finished %d purchase(s)", finished)
    return finished


async def _lease(purchases: Purchases, purchase_id: str, call_timeout: float, replica: str) -> Purchase | None:
    # A turn makes at most two calls of call_timeout each (the step, then failing it): the
    # lease outlasts them, and if it ever did not, the steps are conditional on the state.
    async with purchases.store.autocommit() as repo:
        return await repo.lease_purchase(purchase_id, 3 * call_timeout, replica)


async def _release_lease(purchases: Purchases, purchase_id: str, replica: str) -> None:
    try:
        async with purchases.store.autocommit() as repo:
            await repo.release_purchase_lease(purchase_id, replica)
    except CONNECTION_ERRORS:
        pass  # the lease runs out by itself


async def _count_failed_attempt(purchases: Purchases, purchase: Purchase, error: Exception, call_timeout: float) -> int:
    """Records a failed recovery attempt. At MAX_ATTEMPTS a pending purchase fails, and a
    cancelling or failing one, whose units could not be given back, is left to an operator:
    recovery lists it no more (it stays in the backlog gauges), one ERROR line says what to do,
    and recordstore_recovery_gave_up_total counts it. Returns 1 when that finished the purchase."""
    reason = describe(error)
    try:
        async with purchases.store.autocommit() as repo:
            counted = await repo.record_failed_attempt(purchase.id)
        attempts = counted.attempts if counted else purchase.attempts + 1
        log.error(
            "recovery of purchase %s (%s) failed, attempt %d of %d: %s",
            purchase.id,
            purchase.state,
            attempts,
            MAX_ATTEMPTS,
            reason,
        )
        if counted is None or attempts < MAX_ATTEMPTS:
            return 0
        if counted.state != PurchaseState.PENDING:
            metrics.RECOVERY_GAVE_UP.labels(counted.state).inc()
            log.error(
                "recovery gives up on purchase %s, %s after %d attempts: its units are not given back. "
                "Mend the cause (above), then cancel it again, or set its attempts to 0 to let recovery retry",
                counted.id,
                counted.state,
                attempts,
            )
            return 0
        failed = await purchases.fail(counted, f"gave up after {attempts} attempts: {reason}", Deadline(call_timeout))
        return int(failed.state == PurchaseState.FAILED)
    except Exception as again:  # noqa: BLE001 - logged, and the round goes on
        log.error(
            "recovery of purchase %s: could not record its failure (%s): %s", purchase.id, reason, describe(again)
        )
        return 0


class RecoveryLoop:
    """Every `interval` seconds, advances purchases unfinished for longer than `grace` seconds.

    The grace keeps it off purchases an RPC is still working on (it would be harmless, as every
    step is idempotent, but wasteful). Worst-case recovery time: interval + grace. With several
    orders replicas, each purchase is leased to one loop for its turn (`replica` names this one).
    """

    def __init__(
        self, purchases: Purchases, interval: float, grace: float, call_timeout: float, replica: str = LOCAL_REPLICA
    ):
        self._purchases = purchases
        self._replica = replica
        self._interval = interval
        self._grace = grace
        self._call_timeout = call_timeout
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recovery")

    async def close(self) -> None:
        """Stops the loop, waiting for a round in progress to end (cancelled at its next await)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await recover(self._purchases, self._grace, self._call_timeout, replica=self._replica)
            except CONNECTION_ERRORS as error:
                log.warning("recovery round skipped, database unreachable: %s", str(error).splitlines()[0])
            except Exception:  # the work list could not be read; each purchase has its own try
                log.exception("recovery round failed")
