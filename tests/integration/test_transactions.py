"""The database layer's two ways of working: autocommit (each statement alone) and a real
transaction (BEGIN with the first statement, COMMIT, rollback unless committed); and the
driver's refusals coming out as the layer's own errors, constraint named."""

import asyncio
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from services.runtime.db import CheckViolation, Database, OutOfRange, UniqueViolation


class Table:
    """A table of the tests' own: its statements composed with psycopg2.sql (the name quoted as an
    identifier), rendered once against a connection so the pool's string API takes them."""

    def __init__(self, cluster, name: str):
        self.name = name
        self._conn = psycopg2.connect(cluster.admin_url)

    def sql(self, template: str) -> str:
        """`template` with {table} as the quoted public.<name>."""
        return sql.SQL(template).format(table=sql.Identifier("public", self.name)).as_string(self._conn)

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def table(cluster):
    """A table of its own, in the public schema of the tests' database (the superuser's)."""
    made = Table(cluster, f"tx_{uuid.uuid4().hex[:8]}")
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute(made.sql("CREATE TABLE {table} (id integer PRIMARY KEY, n bigint CHECK (n >= 0))"))
    conn.close()
    yield made
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute(made.sql("DROP TABLE {table}"))
    conn.close()
    made.close()


def rows(cluster, table) -> list[tuple]:
    """What another session sees: only what was committed."""
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute(table.sql("SELECT id, n FROM {table} ORDER BY id"))
        found = cursor.fetchall()
    conn.close()
    return found


def with_pool(cluster, scenario, size=1):
    name = f"tx-{uuid.uuid4().hex[:8]}"

    async def run():
        db = await Database(cluster.admin_url, size, name).open()
        try:
            return await scenario(db)
        finally:
            await db.close()

    return asyncio.run(run()), name


def test_a_transaction_is_seen_by_others_only_once_committed(cluster, table):
    async def scenario(db):
        async with db.transaction() as tx:
            await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 10))
            await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (2, 20))
            before = rows(cluster, table)
            await tx.commit()
        return before

    before, _ = with_pool(cluster, scenario)
    assert before == []
    assert rows(cluster, table) == [(1, 10), (2, 20)]


def test_a_transaction_left_without_commit_rolls_back_and_keeps_its_connection(cluster, table):
    async def scenario(db):
        (pid,) = await first_pid(db)
        async with db.transaction() as tx:
            await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 10))
        with pytest.raises(UniqueViolation):
            async with db.transaction() as tx:
                await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (3, 30))
                await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (3, 31))
        async with db.transaction() as tx:  # the same connection, idle again, not mid-transaction
            assert await tx.one("SELECT pg_backend_pid()") == (pid,)
            await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (4, 40))
            await tx.commit()
        return pid

    with_pool(cluster, scenario)
    assert rows(cluster, table) == [(4, 40)]  # neither the block without commit nor the failed one left a row


async def first_pid(db):
    async with db.autocommit() as connection:
        return await connection.one("SELECT pg_backend_pid()")


def test_autocommit_statements_stand_alone(cluster, table):
    async def scenario(db):
        with pytest.raises(UniqueViolation):
            async with db.autocommit() as connection:
                await connection.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 10))
                await connection.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 11))

    with_pool(cluster, scenario)
    assert rows(cluster, table) == [(1, 10)]  # the first statement had committed on its own


def test_refusals_name_their_kind_and_constraint_and_cost_no_connection(cluster, table):
    async def scenario(db):
        async with db.autocommit() as connection:
            await connection.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 1))
        refused = []
        for statement, params, kind in (
            (table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 2), UniqueViolation),
            (table.sql("INSERT INTO {table} VALUES (%s, %s)"), (2, -1), CheckViolation),
            (table.sql("UPDATE {table} SET n = %s * 2"), (9223372036854775807,), OutOfRange),
        ):
            with pytest.raises(kind) as caught:
                async with db.autocommit() as connection:
                    await connection.run(statement, params)
            refused.append(caught.value)
        return refused

    (unique, check, out_of_range), _ = with_pool(cluster, scenario, size=2)
    assert (unique.sqlstate, unique.constraint) == ("23505", f"{table.name}_pkey")
    assert (check.sqlstate, check.constraint) == ("23514", f"{table.name}_n_check")
    assert out_of_range.sqlstate == "22003" and "out of range" in out_of_range.message
    assert not isinstance(unique, psycopg2.Error)  # repositories need not know the driver


def test_records_are_built_by_column_name(cluster):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Pair:
        b: int
        a: str

    async def scenario(db):
        async with db.autocommit() as connection:
            one = await connection.one_record(Pair, "SELECT 'x' AS a, 2 AS b, 'extra' AS c")
            many = await connection.all_records(Pair, "SELECT 'y' AS a, 3 AS b UNION ALL SELECT 'z', 4")
            with pytest.raises(TypeError, match=r"\['b'\]"):
                await connection.one_record(Pair, "SELECT 'x' AS a")
        return one, many

    (one, many), _ = with_pool(cluster, scenario)
    assert one == Pair(b=2, a="x")  # order and an unknown column change nothing
    assert many == [Pair(3, "y"), Pair(4, "z")]


def test_a_statement_after_commit_is_refused_without_costing_the_pool(cluster, table):
    async def scenario(db):
        (pid,) = await first_pid(db)
        with pytest.raises(RuntimeError, match="has committed"):
            async with db.transaction() as tx:
                await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (1, 10))
                await tx.commit()
                await tx.run(table.sql("INSERT INTO {table} VALUES (%s, %s)"), (2, 20))
        return pid, (await first_pid(db))[0]

    (before, after), _ = with_pool(cluster, scenario)
    assert before == after  # the same connection: a mistake of ours is not a lost connection
    assert rows(cluster, table) == [(1, 10)]
