"""Natural batching: many callers' items sent as one call, with no added wait.

A Batcher sends an item at once when nothing of its own is in flight; items that arrive while a
call is in flight queue, and go together as the next call the moment it returns. At low load every
batch is one item sent without delay; under load a batch is whatever queued during one round
trip, so the cost of a call (an RPC, a commit) is shared by the items that waited for it.

An item that finds nothing in flight is sent by its own caller, after one turn of the event loop
(the callers resumed in the same turn, a batch coming out of the step before, go with it): at low
load a batcher starts no task of its own, and an item alone goes in its caller's context (its
trace). Items that queue behind a call are sent by a task the batcher starts. A batch of several
is sent in a context of its own: it is no single caller's work.

`flush` answers each item: a result, or the exception that item's caller raises. An exception
raised by `flush` itself is every item's. A caller that stops waiting (cancelled) does not take
its item out of a batch already sent: what the items ask must be safe to do once without an
answer, as every batched step here is (idempotent, keyed by the purchase's id).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram

from .errors import ServiceError, to_rpc_status
from .store import Repository, Store

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C")  # an item as its check leaves it
Repo = TypeVar("Repo", bound=Repository)

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
        max_items: int,
        in_flight: int = 1,
    ):
        if max_items < 1 or in_flight < 1:
            raise ValueError("a batch holds at least one item, and at least one call may be in flight")
        self._flush = flush
        self._max_items = max_items
        self._in_flight = in_flight  # calls at once: 1 keeps batches largest, 2 overlaps round trips
        self._sending = 0  # calls in flight now
        self._queue: list[tuple[T, asyncio.Future, contextvars.Context]] = []
        self._senders: set[asyncio.Task] = set()
        self._sizes = BATCH_SIZE.labels(name)

    async def submit(self, item: T) -> R:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future, contextvars.copy_context()))
        if self._sending < self._in_flight:
            # Nothing in flight: this caller sends, after one turn of the event loop, so that the
            # callers resumed in the same turn (a batch coming out of the step before) go with it.
            self._sending += 1
            try:
                await asyncio.sleep(0)
                batch = self._take()
                if len(batch) == 1 and batch[0][1] is future:
                    self._deliver(batch, await self._call([item]))  # alone: in its own task and context
                elif batch:
                    # Several: in a context of their own, and to the end even if this caller leaves.
                    await asyncio.shield(asyncio.create_task(self._send(batch), context=contextvars.Context()))
            finally:
                self._sending -= 1
                self._start_sender()  # for what queued meanwhile
        return await future

    def _take(self) -> list[tuple[T, asyncio.Future, contextvars.Context]]:
        batch = self._queue[: self._max_items]
        del self._queue[: self._max_items]
        return batch

    async def _call(self, items: list[T]) -> Sequence[R | BaseException]:
        """`flush(items)`, its failure made each item's answer (a cancellation goes on up)."""
        self._sizes.observe(len(items))
        try:
            answers = await self._flush(items)
            if len(answers) != len(items):
                raise RuntimeError(f"a batch of {len(items)} item(s) got {len(answers)} answer(s)")
            return answers
        except Exception as error:  # noqa: BLE001 - the batch's failure is each of its callers'
            return [error] * len(items)

    async def _send(self, batch: list[tuple[T, asyncio.Future, contextvars.Context]]) -> None:
        self._deliver(batch, await self._call([item for item, _, _ in batch]))

    @staticmethod
    def _deliver(batch: list[tuple[T, asyncio.Future, contextvars.Context]], answers: Sequence) -> None:
        for (_, future, _), answer in zip(batch, answers, strict=True):
            if future.done():
                continue  # its caller stopped waiting
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _start_sender(self) -> None:
        if self._queue and self._sending < self._in_flight:
            self._sending += 1
            sender = asyncio.create_task(self._send_queued(), context=contextvars.Context())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)

    async def _send_queued(self) -> None:
        """Sends what queued behind a call, batch after batch, until the queue is empty."""
        try:
            while self._queue:
                batch = self._take()
                try:
                    if len(batch) == 1:  # alone: in its caller's context, as if it had sent it itself
                        await asyncio.create_task(self._send(batch), context=batch[0][2])
                    else:
                        await self._send(batch)
                except asyncio.CancelledError:
                    # Shutdown: every caller waiting on this batch hears of it, and so do the queued.
                    for _, future, _ in batch + self._queue:
                        future.cancel()
                    self._queue.clear()
                    raise
        finally:
            self._sending -= 1


async def answer_each(
    items: Sequence[T],
    check: Callable[[int, T], Awaitable[C]],
    work: Callable[[list[C]], Awaitable[Sequence[R | ServiceError]]],
) -> list[R | ServiceError]:
    """The server's side of a batch, the request's repeated field `items` (as many as its rules
    let in: rules.items): each item checked on its own (`check(index, item)`; its ServiceError is
    that item's answer alone, never the batch's), then `work` on those that passed, in one go; the
    answers in the order of `items`."""
    checked: list[C | ServiceError] = []
    for index, item in enumerate(items):
        try:
            checked.append(await check(index, item))
        except ServiceError as refused:
            checked.append(refused)
    passed = [c for c in checked if not isinstance(c, ServiceError)]
    done = iter(await work(passed) if passed else [])
    return [c if isinstance(c, ServiceError) else next(done) for c in checked]


def results_of(answers: Sequence[R | ServiceError], result: Callable[..., Any], field: str, to_proto: Callable) -> list:
    """A batch's answers as its reply's repeated result (a oneof of `field` or `error`), in order:
    `result(**{field: to_proto(answer)})`, or `result(error=...)` with the status of a refusal."""
    return [
        result(error=to_rpc_status(answer)) if isinstance(answer, ServiceError) else result(**{field: to_proto(answer)})
        for answer in answers
    ]


async def together_or_alone(
    store: Store[Repo],
    items: list[T],
    together: Callable[[Repo], Awaitable[list[R]]],
    row_key: Callable[[R], Hashable],
    item_key: Callable[[T], Hashable],
    alone: Callable[[Repo, T], Awaitable[R]],
    refused: type[Exception],
) -> list[R | BaseException]:
    """A batched write's flush: `together` for all items in one statement; then `alone` for each
    item it left out (a request id used before, a row no longer in the state the statement
    wants), or for every item when the database refused the statement (`refused`), so that each
    item gets the answer it would have got alone. An item's failure is its own answer."""
    try:
        async with store.autocommit() as repo:
            done = {row_key(row): row for row in await together(repo)}
    except refused:
        done = {}
    answers: list[R | BaseException] = []
    for item in items:
        try:
            row = done.get(item_key(item))
            if row is None:
                async with store.autocommit() as repo:
                    row = await alone(repo, item)
            answers.append(row)
        except Exception as error:  # noqa: BLE001 - that item's caller raises it
            answers.append(error)
    return answers
