"""How a service's use cases reach its tables: a Store hands out its repository over one pooled
connection, in autocommit or in a transaction.

Use cases take the Store (and their peers) when they are built, never the pool: a test gives them
a fake store with an in-memory repository (tests/unit/fakes.py) and runs them without PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from .db import Connection, Database


class Repository:
    """The base of every repository: one method per named query, on the connection it is given."""

    def __init__(self, connection: Connection):
        self._connection = connection

    async def commit(self) -> None:
        """Commits a transaction (Store.transaction); in autocommit, every statement already has."""
        await self._connection.commit()


R = TypeVar("R", bound=Repository)
T = TypeVar("T")


def present(value: T | None, what: str) -> T:
    """`value`, which the statement before it guarantees (the row a conflict or a failed condition
    just pointed at). None would mean the row vanished in between: an error, not a silent None."""
    if value is None:
        raise LookupError(f"{what} vanished between two statements")
    return value


class Store(Generic[R]):
    def __init__(self, database: Database, repository: Callable[[Connection], R]):
        self._database = database
        self._repository = repository

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[R]:
        """Each statement commits on its own: one round trip, for a step that is one statement."""
        async with self._database.autocommit() as connection:
            yield self._repository(connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[R]:
        """All of the block's statements or none: `await repo.commit()`, or it rolls back."""
        async with self._database.transaction() as transaction:
            yield self._repository(transaction)
