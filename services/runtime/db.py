"""A fixed-size PostgreSQL connection pool and the transaction context manager over it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras
from psycopg2.pool import ThreadedConnectionPool

# Errors after which a connection cannot be trusted again (server restarted, socket closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Database:
    """Keeps `size` connections open for the life of the process.

    minconn == maxconn on purpose: psycopg2's pool closes every returned connection while it
    already holds `minconn` idle ones, which otherwise opens a backend per request. Callers
    beyond `size` wait for a free connection instead of failing.
    """

    def __init__(self, url: str, size: int, application_name: str, connect_timeout: int = 3):
        self._pool = ThreadedConnectionPool(
            size,
            size,
            dsn=url,
            application_name=application_name,
            connect_timeout=connect_timeout,
        )
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """Yields a cursor whose work commits on a clean exit and rolls back on any exception."""
        with self._slots:
            conn = self._pool.getconn()
            broken = False
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                    yield cursor
                conn.commit()
            except BaseException as error:
                broken = conn.closed != 0 or isinstance(error, CONNECTION_ERRORS)
                if not broken:
                    try:
                        conn.rollback()
                    except CONNECTION_ERRORS:
                        broken = True
                raise
            finally:
                self._pool.putconn(conn, close=broken)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.transaction() as cursor:
                cursor.execute("SELECT 1")
            return True
        except CONNECTION_ERRORS:
            return False

    def close(self) -> None:
        self._pool.closeall()
