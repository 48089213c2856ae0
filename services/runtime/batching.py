"""Natural batching: many callers' items sent as one call, with no added wait.

A Batcher sends an item at once when nothing of its own is in flight; items that arrive while a
call is in flight queue, and go together as the next call the moment it returns. At low load every
batch is one item sent without delay; under load a batch is whatever queued during one round
trip, so the cost of a call (an RPC, a commit) is shared by the items that waited for it.

A caller's own context (its trace) goes with its item when the item goes alone; a batch of
several is sent in a context of its own. `flush` answers each item: a result, or the exception that item's caller raises. An exception
raised by `flush` itself is every item's. A caller that stops waiting (cancelled) does not take
its item out of a batch already sent: what the items ask must be safe to do once without an
answer, as every batched step here is (idempotent, keyed by the purchase's id).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram

T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = Histogram(
    "recordstore_batch_items",
    "Items sent together in one batched call, by batch (what queued while the call before it ran).",
    ("batch",),
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class Batcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], Coroutine[Any, Any, Sequence[R | BaseException]]],
        max_items: int = 64,
        in_flight: int = 1,
    ):
        if max_items < 1 or in_flight < 1:
            raise ValueError("a batch holds at least one item, and at least one call may be in flight")
        self._flush = flush
        self._max_items = max_items
        self._in_flight = in_flight  # calls at once: 1 keeps batches largest, 2 overlaps round trips
        self._queue: list[tuple[T, asyncio.Future, contextvars.Context]] = []
        self._senders: set[asyncio.Task] = set()
        self._sizes = BATCH_SIZE.labels(name)

    async def submit(self, item: T) -> R:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future, contextvars.copy_context()))
        if len(self._senders) < self._in_flight:
            sender = asyncio.create_task(self._send())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        return await future

    async def _send(self) -> None:
        """Sends what is queued, batch after batch, until the queue is empty."""
        while self._queue:
            batch = self._queue[: self._max_items]
            del self._queue[: self._max_items]
            self._sizes.observe(len(batch))
            # One item alone is sent in its caller's context (its trace, say); a batch in a context
            # of its own, as it is no single caller's work.
            context = batch[0][2] if len(batch) == 1 else contextvars.Context()
            try:
                flush: asyncio.Task[Sequence[R | BaseException]] = asyncio.create_task(
                    self._flush([item for item, _, _ in batch]), context=context
                )
                answers: Sequence[R | BaseException] = await flush
                if len(answers) != len(batch):
                    raise RuntimeError(f"a batch of {len(batch)} item(s) got {len(answers)} answer(s)")
            except asyncio.CancelledError:
                # Shutdown: every caller waiting on this batch hears of it, and so do the queued.
                for _, future, _ in batch + self._queue:
                    future.cancel()
                self._queue.clear()
                raise
            except Exception as error:  # noqa: BLE001 - the batch's failure is each of its callers'
                answers = [error] * len(batch)
            for (_, future, _), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue  # its caller stopped waiting
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
