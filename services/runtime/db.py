"""A fixed-size PostgreSQL connection pool and the transaction context manager over it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras


class ConnectionLost(Exception):
    """The connection died under a statement (psycopg2 reports some of these as a bare
    DatabaseError, "server closed the connection unexpectedly")."""


# Errors after which a connection cannot be trusted again (server restarted, socket closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, ConnectionLost)


class Database:
    """Keeps up to `size` connections open for the life of the process.

    Not psycopg2's ThreadedConnectionPool: it closes every returned connection while it holds
    `minconn` idle ones (a new backend per request unless minconn == maxconn), and it hands out
    connections that died with a server restart one by one, failing one request each. Here a
    connection error retires every connection opened before it, so after a database restart
    only the requests already in flight fail. Callers beyond `size` wait for a free connection.
    """

    def __init__(self, url: str, size: int, application_name: str, connect_timeout: int = 3):
        self._dsn = url
        self._options = {"application_name": application_name, "connect_timeout": connect_timeout}
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._generation = 0
        # Opened now: a wrong URL fails the start, and the first requests pay no connect.
        for _ in range(size):
            self._idle.put(self._open())

    def _open(self):
        return psycopg2.connect(self._dsn, **self._options), self._generation

    def _checkout(self):
        try:
            conn, generation = self._idle.get_nowait()
        except queue.Empty:
            return self._open()
        if generation != self._generation or conn.closed:
            conn.close()
            return self._open()
        return conn, generation

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """Yields a cursor whose work commits on a clean exit and rolls back on any exception."""
        with self._slots:
            conn, generation = self._checkout()
            healthy = True  # until proven otherwise
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                    yield cursor
                conn.commit()
            except BaseException as error:
                # A server error carries an SQLSTATE; an error without one came from the wire.
                lost = (bool(conn.closed) or isinstance(error, CONNECTION_ERRORS)
                        or (isinstance(error, psycopg2.Error) and error.pgcode is None))
                if not lost:
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        lost = True
                healthy = not lost
                if lost and isinstance(error, psycopg2.Error) and not isinstance(error, CONNECTION_ERRORS):
                    raise ConnectionLost(str(error).strip()) from error
                raise
            finally:
                if healthy:
                    self._idle.put((conn, generation))
                else:
                    # Retire every connection as old as this one.
                    self._generation = max(self._generation, generation + 1)
                    conn.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.transaction() as cursor:
                cursor.execute("SELECT 1")
            return True
        except CONNECTION_ERRORS:
            return False

    def close(self) -> None:
        while True:
            try:
                conn, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            conn.close()
