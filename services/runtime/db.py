"""An asyncio pool of PostgreSQL connections (psycopg2's asynchronous mode), and the two ways a
use case works on one: an autocommit connection, or a transaction.

- `Database.autocommit()`: every statement commits on its own (psycopg2's asynchronous
  connections are in autocommit mode). A step that is one statement (each step of a purchase
  is: the decisions are conditional statements, see the services' queries.sql) costs one round
  trip, where BEGIN ... COMMIT would add the COMMIT's.
- `Database.transaction()`: a unit of work. BEGIN travels with its first statement (no round trip
  of its own), `commit()` commits, and leaving the block without it rolls everything back.

The driver's refusals of a statement's values (a unique or check constraint, a number out of
range) come out as `Refused` and its subclasses, so that repositories translate them into their
service's errors without importing the driver. Migrations, at start, use a connection of their
own (see migrations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg2
import psycopg2.extensions
from psycopg2 import sql as psql

from . import metrics, tracing
from .config import DEFAULT_SESSION_OPTIONS


class ConnectionLost(Exception):
    """The connection died under a statement (psycopg2 reports some of these as a bare
    DatabaseError, "server closed the connection unexpectedly")."""


# Errors after which a connection cannot be trusted again (server restarted, socket closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, ConnectionLost)

# What a failed unit of work leaves its connection fit for (see Database._fate).
_KEEP, _DISCARD, _LOST = "keep", "discard", "lost"


class Refused(Exception):
    """The database refused a statement for its values (a constraint, a value out of range): the
    same statement fails the same way every time, unlike a lost connection."""

    def __init__(self, message: str, sqlstate: str | None, constraint: str | None):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.constraint = constraint  # the constraint's name, when the server says which


class UniqueViolation(Refused):
    """SQLSTATE 23505: a unique index or primary key already holds the value."""


class CheckViolation(Refused):
    """SQLSTATE 23514: a CHECK constraint refused the row."""


class OutOfRange(Refused):
    """SQLSTATE 22003: a number beyond its type (a bigint product, say)."""


_REFUSALS: dict[str, type[Refused]] = {"23505": UniqueViolation, "23514": CheckViolation, "22003": OutOfRange}


def _refused(error: psycopg2.Error) -> Refused:
    diag = error.diag
    message = (diag.message_primary or str(error)).strip().splitlines()[0]
    return _REFUSALS.get(error.pgcode or "", Refused)(message, error.pgcode, diag.constraint_name)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


async def _wait(conn) -> None:
    """Drives an asynchronous psycopg2 connection until its current operation completes."""
    loop = asyncio.get_running_loop()
    fd = conn.fileno()
    while True:
        state = conn.poll()  # raises the statement's error, if any
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            watch, unwatch = loop.add_reader, loop.remove_reader
        elif state == psycopg2.extensions.POLL_WRITE:
            watch, unwatch = loop.add_writer, loop.remove_writer
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        ready = loop.create_future()
        watch(fd, _resolve, ready)
        try:
            await ready
        finally:
            unwatch(fd)


Record = TypeVar("Record")
# How to build a record type from a statement's columns, by their names: see _builder.
_BUILDERS: dict[tuple[type, tuple[str, ...]], Callable[[tuple], Any]] = {}


def _builder(model: type[Record], description: Sequence) -> Callable[[tuple], Record]:
    """Builds `model` (a dataclass) from rows by column name: the order of a table's columns, or a
    column the model does not know (one a newer migration added), changes nothing. Worked out once
    per statement shape, so a row costs one tuple, not a dict."""
    names = tuple(column.name for column in description)
    key = (model, names)
    build = _BUILDERS.get(key)
    if build is None:
        fields = [field.name for field in dataclasses.fields(model)]  # type: ignore[arg-type]
        missing = [name for name in fields if name not in names]
        if missing:
            raise TypeError(f"{model.__name__} needs column(s) {missing} the statement does not return")
        if tuple(fields) == names:
            build = lambda row: model(*row)
        else:
            positions = [names.index(name) for name in fields]
            build = lambda row: model(*[row[i] for i in positions])
        _BUILDERS[key] = build
    return build


class Connection:
    """One pooled connection in autocommit mode: every statement commits on its own."""

    def __init__(self, conn):
        self._conn = conn

    async def _execute(self, sql: str, params):
        if not tracing.ENABLED:
            return await self._statement(sql, params)
        with tracing.sql_span(sql):
            return await self._statement(sql, params)

    async def _statement(self, sql: str, params):
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, params)
            await _wait(self._conn)
        except (psycopg2.IntegrityError, psycopg2.DataError) as error:
            raise _refused(error) from error
        return cursor

    async def one(self, sql: str, params=None) -> tuple | None:
        """The first row, as a tuple in the statement's column order."""
        return (await self._execute(sql, params)).fetchone()

    async def all(self, sql: str, params=None) -> list[tuple]:
        return (await self._execute(sql, params)).fetchall()

    async def run(self, sql: str, params=None) -> int:
        """Runs a statement whose rows are not wanted; returns how many rows it touched."""
        return (await self._execute(sql, params)).rowcount

    async def one_record(self, model: type[Record], sql: str, params=None) -> Record | None:
        """The first row as a `model` record, its fields taken from the columns of the same names."""
        cursor = await self._execute(sql, params)
        row = cursor.fetchone()
        return None if row is None else _builder(model, cursor.description)(row)

    async def all_records(self, model: type[Record], sql: str, params=None) -> list[Record]:
        cursor = await self._execute(sql, params)
        rows = cursor.fetchall()
        if not rows:
            return []
        build = _builder(model, cursor.description)
        return [build(row) for row in rows]

    async def commit(self) -> None:
        """Nothing to do: each statement committed as it ran. (Repositories call it alike.)"""


class Transaction(Connection):
    """One pooled connection inside BEGIN ... COMMIT: all of its statements, or none of them.

    BEGIN is sent in front of the first statement, in the same round trip. Leaving the
    `Database.transaction()` block without `commit()` (an error, or on purpose) rolls back.
    """

    def __init__(self, conn):
        super().__init__(conn)
        self._begun = False
        self.committed = False

    async def _execute(self, sql: str, params):
        if self.committed:
            raise RuntimeError("this transaction has committed: open another")  # a bug of ours, not a lost connection
        if not self._begun:
            self._begun = True
            sql = "BEGIN; " + sql
        return await super()._execute(sql, params)

    async def commit(self) -> None:
        if self._begun and not self.committed:
            await super()._execute("COMMIT", None)
        self.committed = True

    async def _rollback_unless_committed(self) -> None:
        conn = self._conn
        if not self._begun or self.committed or conn.closed or conn.isexecuting():
            return  # nothing began; or the pool decides (a statement still running: closed alone)
        if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            cursor = conn.cursor()
            cursor.execute("ROLLBACK")
            await _wait(conn)


class Database:
    """Keeps up to `size` connections open for the life of the process.

    A lost connection retires every connection opened before it, so after a database restart
    only the statements already in flight fail, not one request per stale connection; any other
    error costs no connection at all (see _fate). Callers beyond `size` wait for a free connection.
    """

    def __init__(
        self,
        url: str,
        size: int,
        application_name: str,
        options: str = DEFAULT_SESSION_OPTIONS,
        connect_timeout: float = 3.0,
    ):
        self._dsn = url
        self._application_name = application_name
        self._options = options  # libpq `options`: the session's own limits (config.database_session_options)
        self._connect_timeout = connect_timeout
        self._size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list = []  # (connection, generation), most recently used last
        self._generation = 0
        self._closed = False
        self._in_use = 0
        self._waiting = 0
        self._wait_seconds = metrics.watch_pool(application_name, size, lambda: self._in_use, lambda: self._waiting)

    async def open(self) -> Database:
        """Opens every connection now: a wrong URL fails the start, the first requests pay no connect."""
        opened = await asyncio.gather(*(self._open() for _ in range(self._size)))
        self._idle.extend(opened)
        return self

    async def _open(self):
        generation = self._generation
        # The session's own limits, which the role's settings (ALTER ROLE ... SET) cannot lift.
        conn = psycopg2.connect(self._dsn, async_=1, application_name=self._application_name, options=self._options)
        try:
            await asyncio.wait_for(_wait(conn), self._connect_timeout)
        except BaseException:
            conn.close()
            raise
        return conn, generation

    async def _checkout(self):
        if self._closed:  # at shutdown: fail fast (UNAVAILABLE to an RPC) instead of reconnecting
            raise psycopg2.InterfaceError("the connection pool is closed")
        while self._idle:
            conn, generation = self._idle.pop()
            if generation == self._generation and not conn.closed:
                return conn, generation
            conn.close()
        try:
            return await self._open()
        except TimeoutError:
            raise psycopg2.OperationalError(f"no connection within {self._connect_timeout}s") from None

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Connection]:
        """A connection whose every statement commits on its own."""
        async with self._connection() as conn:
            yield Connection(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A unit of work: `await tx.commit()` keeps it; leaving the block without that rolls back."""
        async with self._connection() as conn:
            transaction = Transaction(conn)
            try:
                yield transaction
            except BaseException:
                # The first error is the one to report; _fate judges what the connection is fit for.
                with contextlib.suppress(Exception):
                    await transaction._rollback_unless_committed()
                raise
            await transaction._rollback_unless_committed()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of the `size` places, counted for the metrics: in use, waiting, how long it waited."""
        asked = time.perf_counter()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._wait_seconds.observe(time.perf_counter() - asked)
        self._in_use += 1
        try:
            yield
        finally:
            self._in_use -= 1
            self._slots.release()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        async with self._slot():
            conn, generation = await self._checkout()
            try:
                yield conn
            except BaseException as error:
                fate = await self._fate(conn, error)
                if fate == _KEEP:
                    self._give_back(conn, generation)
                else:
                    conn.close()
                    if fate == _LOST:
                        # The server went away (a restart, above all): the connections opened before
                        # this one are as dead, so they are retired too rather than each failing a request.
                        self._generation = max(self._generation, generation + 1)
                        if isinstance(error, psycopg2.Error) and not isinstance(error, CONNECTION_ERRORS):
                            raise ConnectionLost(str(error).strip()) from error
                raise
            else:
                if (
                    conn.closed
                    or conn.isexecuting()
                    or conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE
                ):
                    conn.close()  # never hand on a connection inside a transaction
                else:
                    self._give_back(conn, generation)

    def _give_back(self, conn, generation: int) -> None:
        if self._closed:  # a unit of work that outlived close(): its connection is not kept
            conn.close()
        else:
            self._idle.append((conn, generation))

    async def _fate(self, conn, error: BaseException) -> str:
        """What a unit of work that failed with `error` leaves its connection fit for.

        Most failures are the request's, not the connection's: a NUL psycopg2 refuses to send, a
        value it cannot adapt, a server error (it has an SQLSTATE), a use case's own error between
        statements. Those leave the connection idle and it goes back to the pool. Only a
        connection that is really gone is lost; one left with a statement running (a cancelled
        RPC) is closed alone, since what the statement still does is unknown.
        """
        if conn.closed or conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN:
            return _LOST
        if isinstance(error, CONNECTION_ERRORS) and getattr(error, "pgcode", None) is None:
            return _LOST
        if conn.isexecuting() or conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return _DISCARD
        if isinstance(error, psycopg2.Error) and error.pgcode is None and not await self._alive(conn):
            # psycopg2 reports some broken connections as a bare DatabaseError before it marks
            # them closed: a round trip tells them from a client-side error.
            return _LOST
        return _KEEP

    async def _alive(self, conn) -> bool:
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            await asyncio.wait_for(_wait(conn), self._connect_timeout)
            return True
        except (psycopg2.Error, TimeoutError):
            return False
        except BaseException:  # cancelled while checking: the connection's state is unknown again
            conn.close()
            raise

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.autocommit() as connection:
                await connection.one("SELECT 1")
            return True
        except CONNECTION_ERRORS:
            return False

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            conn, _ = self._idle.pop()
            conn.close()

    async def listener(self, channel: str) -> Listener:
        """A connection of its own, outside the pool, listening on `channel` (see Listener)."""
        if self._closed:
            raise psycopg2.InterfaceError("the connection pool is closed")
        conn = psycopg2.connect(
            self._dsn,
            async_=1,
            application_name=f"{self._application_name}-listener",
            options=self._options,
        )
        try:
            await asyncio.wait_for(_wait(conn), self._connect_timeout)
            listener = Listener(conn, channel)
            await asyncio.wait_for(listener.listen(), self._connect_timeout)
        except BaseException:
            conn.close()
            raise
        return listener


class Listener:
    """A connection that LISTENs on a channel: PostgreSQL delivers a NOTIFY when the transaction
    that sent it commits, never when it rolls back. It also runs the few statements of whoever
    follows the channel (the feed's horizon, runtime/feed.py), so that those never wait for the
    pool. One task uses it: it runs a statement or waits for a notification, never both at once.
    A lost connection raises one of CONNECTION_ERRORS; open another."""

    def __init__(self, conn, channel: str):
        self._conn = conn
        self._channel = psql.Identifier(channel)

    async def listen(self) -> None:
        await self._execute(psql.SQL("LISTEN {}").format(self._channel), None)

    async def unlisten(self) -> None:
        """Stops hearing the channel: a listener that reads nothing would hold back PostgreSQL's
        notification queue, which every notifying transaction of the cluster writes to."""
        await self._execute(psql.SQL("UNLISTEN {}").format(self._channel), None)
        self._taken()

    async def one(self, sql: str, params=None) -> tuple | None:
        return (await self._execute(sql, params)).fetchone()

    async def all(self, sql: str, params=None) -> list[tuple]:
        return (await self._execute(sql, params)).fetchall()

    async def _execute(self, sql, params):
        cursor = self._conn.cursor()  # kept until the statement is done: psycopg2 drops it otherwise
        cursor.execute(sql, params)
        await _wait(self._conn)
        return cursor

    async def wait(self, timeout: float | None) -> bool:
        """Waits up to `timeout` seconds (None: as long as it takes) for a notification. True when
        at least one came (all that came are taken: a wake-up says that something committed, not
        what). Notifications that arrived while a statement ran are taken at once."""
        if self._taken():
            return True
        conn = self._conn
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, _resolve, ready)
        try:
            await asyncio.wait_for(ready, timeout)
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
        conn.poll()  # reads what arrived; raises when the connection is gone
        return self._taken()

    def _taken(self) -> bool:
        notified = bool(self._conn.notifies)
        self._conn.notifies.clear()
        return notified

    def close(self) -> None:
        self._conn.close()
