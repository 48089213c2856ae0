"""runtime/batching.py: what queues during a call goes as the next call, with no added wait; and
catalog.model.layers, which splits a batch of reservations into statements."""

import asyncio
import contextvars

import pytest

from services.catalog.model import StockRequest, layers
from services.runtime.batching import Batcher

WHO = contextvars.ContextVar("who", default=None)


class Recorder:
    """A flush that records its batches, answers each item doubled, and takes `delay` seconds."""

    def __init__(self, delay: float = 0.01):
        self.batches: list[list[int]] = []
        self.contexts: list[object] = []
        self.delay = delay

    async def __call__(self, items: list[int]):
        self.batches.append(list(items))
        self.contexts.append(WHO.get())
        await asyncio.sleep(self.delay)
        return [ValueError(f"odd {i}") if i % 2 else i * 2 for i in items]


def run(coroutine):
    return asyncio.run(coroutine)


def test_an_item_alone_goes_at_once_in_its_callers_context():
    async def scenario():
        recorder = Recorder()
        batcher = Batcher("test_alone", recorder, max_items=64)
        WHO.set("ana")
        started = asyncio.get_running_loop().time()
        assert await batcher.submit(2) == 4
        return recorder, asyncio.get_running_loop().time() - started

    recorder, took = run(scenario())
    assert recorder.batches == [[2]] and recorder.contexts == ["ana"]
    assert took < 0.2  # the flush's own 10 ms, and no waiting for company


def test_what_queues_during_a_call_goes_together_next():
    async def scenario():
        recorder = Recorder(delay=0.05)
        batcher = Batcher("test_together", recorder, max_items=64)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.01)  # the first call is in flight
        WHO.set("bia")
        rest = [asyncio.create_task(batcher.submit(i)) for i in (2, 4, 6)]
        answers = await asyncio.gather(first, *rest)
        return recorder, answers

    recorder, answers = run(scenario())
    assert recorder.batches == [[0], [2, 4, 6]]
    assert recorder.contexts == [None, None]  # a batch of several is no single caller's work
    assert answers == [0, 4, 8, 12]


def test_callers_resumed_in_one_turn_go_together_and_each_gets_its_own_answer_or_error():
    async def scenario():
        recorder = Recorder()
        batcher = Batcher("test_errors", recorder, max_items=64)
        answers = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
        return recorder, answers

    recorder, answers = run(scenario())
    assert recorder.batches == [[0, 1, 2, 3, 4]]  # not the first alone and the rest behind it
    assert [a if isinstance(a, int) else str(a) for a in answers] == [0, "odd 1", 4, "odd 3", 8]


def test_the_caller_that_sends_a_batch_may_leave_and_the_others_still_get_their_answers():
    async def scenario():
        batcher = Batcher("test_sender_leaves", Recorder(delay=0.05), max_items=64)
        tasks = [asyncio.create_task(batcher.submit(i)) for i in (0, 2, 4)]
        await asyncio.sleep(0.01)  # the batch of three is in flight, sent by the first caller
        tasks[0].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    sender, *others = run(scenario())
    assert isinstance(sender, asyncio.CancelledError) and others == [4, 8]


def test_a_failed_call_fails_each_of_its_items_and_the_next_batch_still_goes():
    calls = []

    async def flaky(items):
        calls.append(list(items))
        await asyncio.sleep(0.01)
        if len(calls) == 1:
            raise ConnectionError("peer gone")
        return [f"ok {i}" for i in items]

    async def scenario():
        batcher = Batcher("test_flaky", flaky, max_items=64)
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.sleep(0.001)
        later = [asyncio.create_task(batcher.submit(i)) for i in (2, 3)]
        return await asyncio.gather(first, *later, return_exceptions=True)

    first, *later = run(scenario())
    assert isinstance(first, ConnectionError) and later == ["ok 2", "ok 3"]


def test_a_flush_answering_the_wrong_number_of_items_fails_them_all():
    async def short(items):
        return items[:-1]

    async def scenario():
        batcher = Batcher("test_short", short, max_items=64)
        return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

    answers = run(scenario())
    assert all(isinstance(a, RuntimeError) and "answer(s)" in str(a) for a in answers)


def test_batches_hold_at_most_max_items():
    async def scenario():
        recorder = Recorder()
        batcher = Batcher("test_max", recorder, max_items=3)
        await asyncio.gather(*(batcher.submit(i * 2) for i in range(8)))
        return recorder

    assert [len(b) for b in run(scenario()).batches] == [3, 3, 2]


def test_a_caller_that_stops_waiting_leaves_the_others_their_answers():
    async def scenario():
        batcher = Batcher("test_cancel", Recorder(delay=0.05), max_items=64)
        tasks = [asyncio.create_task(batcher.submit(i)) for i in (0, 2, 4)]
        await asyncio.sleep(0.01)
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, cancelled, last = run(scenario())
    assert (first, last) == (0, 8) and isinstance(cancelled, asyncio.CancelledError)


def test_nonsense_sizes_are_refused():
    with pytest.raises(ValueError):
        Batcher("test_bad", Recorder(), max_items=0)


def ask(reservation: str, disc: str) -> StockRequest:
    return StockRequest(reservation, disc, 1)


def test_layers_never_name_a_disc_or_a_reservation_twice_and_keep_the_order():
    asked = [ask("r1", "a"), ask("r2", "a"), ask("r3", "b"), ask("r1", "c"), ask("r4", "a"), ask("r5", "c")]
    split = layers(asked)
    assert split == [[ask("r1", "a"), ask("r3", "b"), ask("r5", "c")], [ask("r2", "a"), ask("r1", "c")],
                     [ask("r4", "a")]]
    for layer in split:
        assert len({r.disc_id for r in layer}) == len(layer) == len({r.reservation_id for r in layer})
    # Each disc's reservations keep their order across the layers (the first asked is served first).
    assert [r.reservation_id for layer in split for r in layer if r.disc_id == "a"] == ["r1", "r2", "r4"]
