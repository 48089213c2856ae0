"""A service's change feed: its outbox table (<schema>.events) served as a stream that replays
from a cursor the client gives, then follows live (docs/feed.md).

Each service writes its events in the statement of the change itself (its queries.sql), so an
event exists exactly when its change committed. What this module adds is how to hand them out so
that a reader resuming from its last cursor misses nothing:

- An event's position is drawn from a sequence inside the statement that makes the change, after
  that statement holds the changed row's lock: one entity's events are in the order of its
  changes. Across entities, positions are not commit order: a transaction may draw 7, another
  draw 8 and commit first. A reader handed 8 and resuming after it would never see 7.
- So a position is handed out only once it is final: no transaction that could still commit it,
  or any below it, is running (`Horizon`). The feed reads the last position drawn (the
  sequence's), then has a transaction id given to it: every transaction that drew a position up
  to that last one already had its id (the statement wrote the changed row before drawing), an
  id below the one just given. Once a later snapshot's oldest running transaction (its xmin) is
  at that id or beyond, all of them have ended, committed or rolled back, and every position up
  to the last one is final. (A snapshot's xmax is no such bound: it is the newest ended
  transaction's id plus one, and transactions given ids after it run unlisted.)
- It wakes on LISTEN/NOTIFY: each events table has a trigger that NOTIFYs `<schema>_events`, which
  PostgreSQL delivers at commit. It reads the horizon again without a notification only while a
  position waits for a transaction still in flight (with a backoff), never to look for events.

One listener per process keeps the horizon, and reads each newly final stretch of events once,
into a bounded tail in memory that every live subscriber is served from; a subscriber behind the
tail (replaying) reads its own pages from the pool. Subscribers are bounded per process and per caller; an idle stream gets a heartbeat
carrying its position; at SIGTERM each stream ends with UNAVAILABLE (resume from the last cursor,
on another replica or after the restart). Retention is bounded in age and in count; a cursor
retention has passed is OUT_OF_RANGE (CURSOR_EXPIRED), never a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import typing
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.rpc import error_details_pb2

from . import config
from .auth import NOT_BACKENDS, Caller
from .db import CONNECTION_ERRORS, Database, Listener
from .errors import DOMAIN, InvalidArgument, ServiceError, Unavailable
from .guard import ADMISSION
from .queries import NAMES, load_queries
from .timestamps import to_timestamp

log = logging.getLogger(__name__)
_QUERIES = load_queries(Path(__file__).with_name("feed.sql"))
# A cursor is the decimal position of an event (or of a heartbeat) in its service's feed.
_CURSOR = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_MAX_POSITION = 2**63 - 1
PAGE = 500  # events read at a time, catching up
TAIL = 2_000  # the newest final events kept in memory for the live subscribers
# Re-reading the horizon while a position waits for a transaction in flight: from 5 ms, doubling
# to 200 ms (a foreign transaction of 5 s, the statement timeout, costs ~30 reads, not 1,000).
RECHECK_FIRST, RECHECK_LAST = 0.005, 0.2
RECONNECT_FIRST, RECONNECT_LAST = 0.5, 5.0
PURGE_INTERVAL_SECONDS = 300.0
PURGE_BATCH = 10_000  # events deleted per statement: each well within the statement timeout
PURGE_BATCHES = 100  # per round: a backlog of a million goes over a few rounds
# Pending (last position, xmax) pairs kept while the oldest transaction holds the horizon back:
# beyond it, the newest pair absorbs the next (its positions become final a little later).
MAX_PENDING = 64


@dataclass(frozen=True)
class FeedSettings:
    """FEED_* variables, the same for the three services (docs/feed.md)."""

    retention_days: float = 7.0  # FEED_RETENTION_DAYS: events older than this are deleted
    retention_events: int = 10_000_000  # FEED_RETENTION_EVENTS: and those beyond the newest this many
    max_subscribers: int = 32  # FEED_MAX_SUBSCRIBERS: streams at once, per process
    max_subscribers_per_caller: int = 4  # FEED_MAX_SUBSCRIBERS_PER_CALLER: of them, one caller's
    heartbeat_seconds: float = 10.0  # FEED_HEARTBEAT_SECONDS: silence after which a stream says it lives

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FeedSettings:
        return cls(
            retention_days=config.seconds("FEED_RETENTION_DAYS", cls.retention_days, env),
            retention_events=config.positive_int("FEED_RETENTION_EVENTS", cls.retention_events, env),
            max_subscribers=config.positive_int("FEED_MAX_SUBSCRIBERS", cls.max_subscribers, env),
            max_subscribers_per_caller=config.positive_int(
                "FEED_MAX_SUBSCRIBERS_PER_CALLER", cls.max_subscribers_per_caller, env
            ),
            heartbeat_seconds=config.seconds("FEED_HEARTBEAT_SECONDS", cls.heartbeat_seconds, env),
        )


@dataclass(frozen=True)
class Event:
    """One change, as its statement wrote it: `payload` holds the entity's row as the change left
    it (under the entity's name) and what else the change says."""

    position: int
    type: str
    aggregate_id: str
    payload: dict
    time: datetime


@dataclass(frozen=True)
class Heartbeat:
    """Nothing new up to `position`: a reader may resume from it (no event at or below it is
    still to come)."""

    position: int
    time: datetime


class CursorExpired(ServiceError):
    code = grpc.StatusCode.OUT_OF_RANGE

    def __init__(self, cursor: int, purged_through: int):
        super().__init__(
            f"after_cursor {cursor} is older than what the feed keeps: the events after it up to {purged_through} "
            f"were deleted by retention; start again from an empty cursor (the oldest kept) and rebuild what "
            f"depends on them",
            "CURSOR_EXPIRED",
        )
        self.oldest_cursor = str(purged_through)

    def details(self) -> list:
        return [
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=DOMAIN, metadata={"oldest_cursor": self.oldest_cursor}
            )
        ]


class TooManySubscribers(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


def parse_cursor(cursor: str, field: str = "after_cursor") -> int:
    """The position a cursor names (0: an empty cursor, the feed's beginning)."""
    if not cursor:
        return 0
    if not _CURSOR.match(cursor) or int(cursor) > _MAX_POSITION:
        raise InvalidArgument(
            field, "is not a cursor of this feed (the decimal position of an event)", "INVALID_CURSOR"
        )
    return int(cursor)


class Horizon:
    """The last position known final: every event at or below it has committed or never will.

    Pure bookkeeping, fed by the listener: `mark(last, xid)`, the last position drawn and then a
    transaction id given after it was read; `settle(xmin)`, the oldest transaction running in a
    snapshot taken later. A transaction that drew a position up to `last` had its id by then (the
    statement wrote the changed row first), an id below `xid`; once the oldest running is at `xid`
    or beyond, all of them have ended, and every position up to `last` is final.
    """

    def __init__(self, final: int = 0):
        self.final = final
        self._pending: deque[tuple[int, int]] = deque()  # (last, xid), both growing

    @property
    def waiting(self) -> bool:
        """Whether some position waits for transactions still in flight."""
        return bool(self._pending)

    @property
    def newest(self) -> int:
        """The last position marked or final: a reading below it adds nothing."""
        return self._pending[-1][0] if self._pending else self.final

    def mark(self, last: int, xid: int) -> None:
        if last <= self.newest:
            return
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop()  # the newest pair absorbs this one: its positions wait a little longer
        self._pending.append((last, xid))

    def settle(self, xmin: int) -> bool:
        """Takes the oldest running transaction of a snapshot; returns whether `final` moved."""
        before = self.final
        while self._pending and self._pending[0][1] <= xmin:
            self.final = max(self.final, self._pending.popleft()[0])
        return self.final > before


def _record_field_parsers(model: type) -> dict[str, typing.Callable | None]:
    hints = typing.get_type_hints(model)
    return {
        f.name: (_parse_time if datetime in (hints[f.name], *typing.get_args(hints[f.name])) else None)
        for f in fields(model)
    }


def _parse_time(value):
    return None if value is None else datetime.fromisoformat(value)


_PARSERS: dict[type, dict] = {}


def event_message(
    message_class: typing.Any, types: Mapping[str, int], item: Event | Heartbeat, fields: Callable[[dict], dict]
):
    """A feed item as its service's event message: the cursor, type and time every feed's event
    carries, and `fields(payload)`, what the service's own event says (a heartbeat has none)."""
    if isinstance(item, Heartbeat):
        return message_class(
            cursor=str(item.position), type=message_class.HEARTBEAT, event_time=to_timestamp(item.time)
        )
    return message_class(
        cursor=str(item.position), type=types[item.type], event_time=to_timestamp(item.time), **fields(item.payload)
    )


def record_of(model: type, row: dict):
    """The record `model` (a dataclass of a table's columns) from a row an event carries
    (to_jsonb of it): fields by name, timestamps parsed, columns the model lacks left out."""
    parsers = _PARSERS.get(model)
    if parsers is None:
        parsers = _PARSERS[model] = _record_field_parsers(model)
    return model(**{name: parse(row[name]) if parse else row[name] for name, parse in parsers.items()})


class Feed:
    """The change feed of one service's schema, for one process: its listener, its horizon, its
    subscribers, its retention. Create, `start` inside the event loop that serves it, `close` at
    shutdown."""

    def __init__(self, schema: str, database: Database, settings: FeedSettings = FeedSettings()):
        if not re.fullmatch(r"[a-z_]+", schema):
            raise ValueError(f"not a schema name: {schema!r}")
        self.schema = schema
        self.channel = f"{schema}_events"
        self.settings = settings
        self._database = database
        self._queries = {
            name: text.format(
                events=f"{schema}.events", purged=f"{schema}.events_purged", sequence=f"{schema}.events_id_seq"
            )
            for name, text in _QUERIES.items()
        }
        for name, text in self._queries.items():
            NAMES[text] = f"feed.{name}"  # what a trace calls the statement
        self.horizon = Horizon()
        # Retention's own horizon, read at each of its rounds: the listener's moves only while
        # streams run, and retention deletes whether or not any does.
        self._retained = Horizon()
        self.last = 0  # the last position drawn, as the listener last read it
        # What the subscribers are told is final: the horizon's, once what it adds is in the tail.
        self.final = 0
        # The newest final events, in position order: every event in (tail_from, final] is here,
        # so a subscriber at or past tail_from needs no query of its own (None: no tail yet).
        self._tail: deque[Event] = deque()
        self._tail_from: int | None = None
        self._moved = asyncio.Event()  # set, and replaced, each time the horizon moves
        self._subscribers: Counter[str] = Counter()
        self._wanted = asyncio.Event()  # set when a stream starts: the listener follows while any runs
        self._tasks: list[asyncio.Task] = []
        self._ready = asyncio.Event()

    # -- the listener ------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts following; returns once the horizon has been read once (the database must be
        reachable, as for the pool), so that the first subscriber is not turned away."""
        listener = await self._database.listener(self.channel)
        await self._read_horizon(listener)  # marks what was drawn before the start...
        await self._read_horizon(listener)  # ...and settles it, unless a transaction still runs
        self._ready.set()
        self._tasks = [
            asyncio.create_task(self._follow(listener), name=f"{self.schema}-feed"),
            asyncio.create_task(self._purge_loop(), name=f"{self.schema}-feed-retention"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _read_horizon(self, listener: Listener) -> None:
        """One reading (feed.sql, horizon): marks settle by this snapshot's oldest transaction, the
        positions drawn since the last reading are marked with a transaction id given after them
        (they settle at a later reading), and the events that became final go into the tail before
        the subscribers are woken."""
        horizon = self.horizon
        newest = horizon.newest
        params = {"newest": newest, "final": self.final, "limit": TAIL}
        rows = await listener.all(self._queries["horizon"], params)
        xmin, last, xid = rows[0][0], int(rows[0][1]), rows[0][2]
        settled = horizon.settle(int(xmin))
        if xid is not None:
            horizon.mark(last, int(xid))
        self.last = max(self.last, last)
        if settled:
            through = horizon.final
            if self._tail_from is None or through - self.final > TAIL:
                # At the first move, or a stretch longer than the tail: the subscribers behind
                # its end read their own pages; the tail starts again, empty, at the end.
                self._tail.clear()
                self._tail_from = through
            else:
                self._tail.extend(
                    Event(int(r[3]), r[4], str(r[5]), r[6], r[7]) for r in rows if r[3] is not None and r[3] <= through
                )
                while len(self._tail) > TAIL:
                    self._tail_from = self._tail.popleft().position
            self.final = through
            self._moved.set()
            self._moved = asyncio.Event()

    async def _follow(self, listener: Listener | None) -> None:
        """While any stream runs: reads the horizon at every notification, and while a position
        waits for a transaction in flight. While none runs, it does not listen at all (nobody
        would read what it learnt): the first stream to start wakes it, and it listens again and
        reads the horizon before anything else, so nothing committed meanwhile is missed.
        Reconnects (with a backoff) when the connection is lost."""
        recheck, reconnect = RECHECK_FIRST, RECONNECT_FIRST
        listening = listener is not None
        while True:
            try:
                if listener is None:
                    listener = await self._database.listener(self.channel)
                    listening, reconnect = True, RECONNECT_FIRST
                    log.info("%s feed: listening again", self.schema)
                while True:
                    if not self._subscribers:
                        if listening:
                            await listener.unlisten()
                            listening = False
                        if not self._subscribers:  # checked again: a stream may have started meanwhile
                            self._wanted.clear()
                            await self._wanted.wait()
                        continue
                    if not listening:
                        await listener.listen()
                        listening = True
                    await self._read_horizon(listener)  # what committed while it was not listening, too
                    waiting = self.horizon.waiting
                    notified = await listener.wait(recheck if waiting else None)
                    recheck = RECHECK_FIRST if notified or not waiting else min(recheck * 2, RECHECK_LAST)
            except CONNECTION_ERRORS as error:
                log.warning(
                    "%s feed: database connection lost (%s), listening again in %.1fs",
                    self.schema,
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                    reconnect,
                )
                if listener is not None:
                    listener.close()
                listener = None
                await asyncio.sleep(reconnect)
                reconnect = min(reconnect * 2, RECONNECT_LAST)
            except asyncio.CancelledError:
                if listener is not None:
                    listener.close()
                raise

    # -- retention ---------------------------------------------------------------------------

    async def purge(self, now: datetime | None = None) -> int:
        """Deletes what retention no longer keeps (a prefix of the feed, final positions only);
        returns how many events went."""
        before = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        retained = self._retained
        async with self._database.autocommit() as connection:
            reading = await connection.one(
                self._queries["horizon"], {"newest": retained.newest, "final": 0, "limit": 0}
            )
        assert reading is not None  # one row
        retained.settle(int(reading[0]))
        if reading[2] is not None:
            retained.mark(int(reading[1]), int(reading[2]))  # final by the next round, minutes later
        params = {
            "safe": max(self.final, retained.final),
            "before": before,
            "keep": self.settings.retention_events,
            "limit": PURGE_BATCH,
        }
        deleted = 0
        for _ in range(PURGE_BATCHES):
            async with self._database.autocommit() as connection:
                row = await connection.one(self._queries["purge_events"], params)
            count = int(row[0]) if row else 0
            deleted += count
            if count < PURGE_BATCH:
                break
        return deleted

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
            try:
                deleted = await self.purge()
                if deleted:
                    log.info("%s feed: retention deleted %d event(s)", self.schema, deleted)
            except CONNECTION_ERRORS as error:
                log.warning("%s feed: retention skipped, database unreachable: %s", self.schema, str(error).strip())
            except Exception:  # the next round tries again
                log.exception("%s feed: retention failed", self.schema)

    # -- subscribers -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _admitted(self, caller: Caller):
        """One place among the process's subscribers and the caller's; RESOURCE_EXHAUSTED when
        either is full (a stream ends, then another may start)."""
        who = caller.service if caller.service and caller.service not in NOT_BACKENDS else f"sub:{caller.subject}"
        settings = self.settings
        if sum(self._subscribers.values()) >= settings.max_subscribers:
            raise TooManySubscribers(
                f"the {self.schema} feed serves {settings.max_subscribers} streams at once here: retry later "
                f"(another replica may have room)",
                "TOO_MANY_SUBSCRIBERS",
            )
        if self._subscribers[who] >= settings.max_subscribers_per_caller:
            raise TooManySubscribers(
                f"a caller may hold {settings.max_subscribers_per_caller} streams of the {self.schema} feed at once",
                "TOO_MANY_SUBSCRIBERS_OF_CALLER",
            )
        self._subscribers[who] += 1
        self._wanted.set()
        try:
            yield
        finally:
            self._subscribers[who] -= 1
            if not self._subscribers[who]:
                del self._subscribers[who]

    async def _read(self, after: int, through: int, tail: bool = True) -> tuple[list[Event], int]:
        """Events in (after, through], a page at most, and how far retention has deleted: from the
        tail when it holds them all (and `tail`), else from the database."""
        if tail and self._tail_from is not None and after >= self._tail_from and through <= self.final:
            found = []
            for event in reversed(self._tail):  # the newest first: a live subscriber wants the last few
                if event.position <= after:
                    break
                if event.position <= through:
                    found.append(event)
            found.reverse()
            return found[:PAGE], 0
        async with self._database.autocommit() as connection:
            rows = await connection.all(
                self._queries["read_events"], {"after": after, "through": through, "limit": PAGE}
            )
        purged = int(rows[0][5])
        found = [Event(int(r[0]), r[1], str(r[2]), r[3], r[4]) for r in rows if r[0] is not None]
        return found, purged

    async def watch(self, after_cursor: str, caller: Caller) -> AsyncIterator[Event | Heartbeat]:
        """The events after `after_cursor` (all that retention keeps, for an empty one), in
        position order, then each new one as it becomes final, for as long as the caller stays; a
        Heartbeat after each FEED_HEARTBEAT_SECONDS of silence. Ends with UNAVAILABLE at shutdown."""
        position = parse_cursor(after_cursor)
        await self._ready.wait()
        if position > self.last and position > await self._last_position():
            # Not one this database handed out (another database's, or one restored from a backup
            # taken before it): waiting for it would hide what comes meanwhile.
            raise InvalidArgument("after_cursor", "is beyond the end of this feed", "INVALID_CURSOR")
        admission = ADMISSION.get()
        stopping = admission.stopping if admission is not None else asyncio.Event()
        loop = asyncio.get_running_loop()
        with self._admitted(caller):
            read_through = self.final
            # The first page from the database, whatever the tail holds: it says whether the
            # cursor is one retention has passed, the same answer on every replica.
            events, purged = await self._read(position, read_through, tail=False)
            if 0 < position < purged:
                raise CursorExpired(position, purged)
            position = max(position, purged)  # an empty cursor starts after what retention deleted
            sent = loop.time()
            while True:
                for event in events:
                    yield event
                    position, sent = event.position, loop.time()
                if len(events) < PAGE:
                    position = max(position, read_through)  # nothing else at or below it is to come
                if len(events) == PAGE or self.final > position:
                    read_through = self.final
                    events, purged = await self._read(position, read_through)
                    if position < purged:  # retention went past this stream while it was behind
                        raise CursorExpired(position, purged)
                    continue
                moved = self._moved  # no await since the horizon was read: no move is missed
                waits = [asyncio.ensure_future(moved.wait()), asyncio.ensure_future(stopping.wait())]
                try:
                    silence = sent + self.settings.heartbeat_seconds - loop.time()
                    await asyncio.wait(waits, timeout=max(0.0, silence), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for each in waits:
                        each.cancel()
                if stopping.is_set():
                    raise Unavailable(
                        f"the {self.schema} service is shutting down: resume from your last cursor", "SHUTTING_DOWN"
                    )
                events = []
                if loop.time() >= sent + self.settings.heartbeat_seconds:
                    yield Heartbeat(position, datetime.now(UTC))
                    sent = loop.time()

    async def _last_position(self) -> int:
        async with self._database.autocommit() as connection:
            row = await connection.one(self._queries["last_position"])
        return int(row[0]) if row else 0
