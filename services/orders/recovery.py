"""The recovery loop: a task that finishes purchases a crash or an outage left unfinished."""

from __future__ import annotations

import asyncio
import logging

from ..runtime.db import CONNECTION_ERRORS
from .usecases import LOCAL_REPLICA, Purchases

log = logging.getLogger(__name__)


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
                await self._purchases.recover(self._grace, self._call_timeout, replica=self._replica)
            except CONNECTION_ERRORS as error:
                log.warning("recovery round skipped, database unreachable: %s", str(error).splitlines()[0])
            except Exception:  # the work list could not be read; each purchase has its own try
                log.exception("recovery round failed")
