"""The pool keeps its connections through errors that are the request's, not the connection's."""

import asyncio
import time
import uuid

import psycopg2
import pytest

from services.runtime.db import ConnectionLost, Database, Refused
from services.runtime.errors import InvalidArgument

POOL_SIZE = 3


def backends(cluster, application_name: str) -> set[int]:
    """The server processes of the connections opened under `application_name`."""
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,))
        found = {pid for (pid,) in cursor.fetchall()}
    conn.close()
    return found


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)
    return result


async def between_statements(session):
    await session.one("SELECT 1")
    raise InvalidArgument("quantity", "refused by a use case after its first statement")


FAILURES = {
    "a NUL psycopg2 refuses to send": (lambda s: s.one("SELECT %s", ("a\x00b",)), ValueError),
    "a value psycopg2 cannot adapt": (lambda s: s.one("SELECT %s", ({"a": 1},)), psycopg2.ProgrammingError),
    "a server error with its SQLSTATE": (lambda s: s.one("SELECT 1 / 0"), Refused),
    "a statement cancelled by the server": (
        lambda s: s.one("SET statement_timeout = 50; SELECT pg_sleep(5)"), psycopg2.errors.QueryCanceled),
    "a use case's error between statements": (between_statements, InvalidArgument),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_request_costs_no_connection(cluster, failure):
    name = f"pool-{uuid.uuid4().hex[:8]}"
    run, raised = FAILURES[failure]

    async def scenario():
        db = await Database(cluster.service_url("catalog"), POOL_SIZE, name).open()
        try:
            before = backends(cluster, name)
            for _ in range(5):
                with pytest.raises(raised):
                    async with db.autocommit() as session:
                        await run(session)
            async with db.autocommit() as session:  # the pool still serves, on its first connections
                await session.run("SET statement_timeout = 0")
                assert (await session.one("SELECT 1")) == (1,)
            return before, backends(cluster, name)
        finally:
            await db.close()

    before, after = asyncio.run(scenario())
    assert len(before) == POOL_SIZE
    assert after == before


def test_a_cancelled_statement_costs_its_own_connection_only(cluster):
    name = f"pool-{uuid.uuid4().hex[:8]}"

    async def scenario():
        db = await Database(cluster.service_url("catalog"), POOL_SIZE, name).open()
        try:
            before = backends(cluster, name)
            started = asyncio.Event()
            pid = None

            async def slow():
                nonlocal pid
                async with db.autocommit() as session:
                    (pid,) = await session.one("SELECT pg_backend_pid()")
                    started.set()
                    await session.one("SELECT pg_sleep(1)")

            task = asyncio.create_task(slow())
            await asyncio.wait_for(started.wait(), 10)
            await asyncio.sleep(0)  # lets the task send its pg_sleep
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with db.autocommit() as session:
                assert (await session.one("SELECT 1")) == (1,)
            return before, pid
        finally:
            await db.close()

    before, pid = asyncio.run(scenario())
    assert pid in before
    # The cancelled connection was closed (its backend ends with its statement); no other was touched.
    wait_for(lambda: pid not in backends(cluster, name) or None)


def test_a_lost_connection_retires_the_pool(cluster):
    """A backend killed under a statement: the error says so, and the next session gets a fresh one."""
    name = f"pool-{uuid.uuid4().hex[:8]}"

    async def scenario():
        db = await Database(cluster.service_url("catalog"), POOL_SIZE, name).open()
        try:
            before = backends(cluster, name)
            with pytest.raises((ConnectionLost, psycopg2.OperationalError)):
                async with db.autocommit() as session:
                    (pid,) = await session.one("SELECT pg_backend_pid()")
                    with psycopg2.connect(cluster.admin_url) as admin, admin.cursor() as cursor:
                        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    admin.close()
                    await session.one("SELECT 1")
            async with db.autocommit() as session:
                (fresh,) = await session.one("SELECT pg_backend_pid()")
            return before, fresh
        finally:
            await db.close()

    before, fresh = asyncio.run(scenario())
    assert fresh not in before
