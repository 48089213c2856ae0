"""An asyncio pool of PostgreSQL connections (psycopg2's asynchronous mode) and its sessions.

Every statement commits on its own (psycopg2's async connections are in autocommit mode): each
use case here is one statement, at most followed by a read, so a unit of work is one round trip,
where BEGIN ... COMMIT would cost three. Migrations, the one multi-statement transaction, run
through a plain connection at start (see migrations.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg2
import psycopg2.extensions

from .config import database_session_options


class ConnectionLost(Exception):
    """The connection died under a statement (psycopg2 reports some of these as a bare
    DatabaseError, "server closed the connection unexpectedly")."""


# Errors after which a connection cannot be trusted again (server restarted, socket closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, ConnectionLost)

# What a failed unit of work leaves its connection fit for (see Database._fate).
_KEEP, _DISCARD, _LOST = "keep", "discard", "lost"


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
        watch(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            unwatch(fd)


class Session:
    """One pooled connection, for the statements of one unit of work."""

    def __init__(self, conn):
        self._conn = conn

    async def _execute(self, sql, params):
        cursor = self._conn.cursor()
        cursor.execute(sql, params)
        await _wait(self._conn)
        return cursor

    async def one(self, sql, params=None) -> tuple | None:
        """The first row, as a tuple in the statement's column order (models take it as is)."""
        return (await self._execute(sql, params)).fetchone()

    async def all(self, sql, params=None) -> list[tuple]:
        return (await self._execute(sql, params)).fetchall()

    async def run(self, sql, params=None) -> int:
        """Runs a statement whose rows are not wanted; returns how many rows it touched."""
        return (await self._execute(sql, params)).rowcount


class Database:
    """Keeps up to `size` connections open for the life of the process.

    A lost connection retires every connection opened before it, so after a database restart
    only the statements already in flight fail, not one request per stale connection; any other
    error costs no connection at all (see _fate). Callers beyond `size` wait for a free connection.
    """

    def __init__(self, url: str, size: int, application_name: str, connect_timeout: float = 3.0):
        self._dsn = url
        self._application_name = application_name
        self._connect_timeout = connect_timeout
        self._size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list = []  # (connection, generation), most recently used last
        self._generation = 0
        self._closed = False

    async def open(self) -> "Database":
        """Opens every connection now: a wrong URL fails the start, the first requests pay no connect."""
        opened = await asyncio.gather(*(self._open() for _ in range(self._size)))
        self._idle.extend(opened)
        return self

    async def _open(self):
        generation = self._generation
        # The session's own limits, which the role's settings (ALTER ROLE ... SET) cannot lift.
        conn = psycopg2.connect(self._dsn, async_=1, application_name=self._application_name,
                                options=database_session_options())
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
    async def session(self) -> AsyncIterator[Session]:
        async with self._slots:
            conn, generation = await self._checkout()
            try:
                yield Session(conn)
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
            async with self.session() as session:
                await session.one("SELECT 1")
            return True
        except CONNECTION_ERRORS:
            return False

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            conn, _ = self._idle.pop()
            conn.close()
