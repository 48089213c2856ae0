"""A service's connections run under their own statement and idle-in-transaction limits, which
the role cannot lift: a role holding its password may `ALTER ROLE self SET statement_timeout = 0`,
and that covers every later connection of the role but those that ask for their limits at connect
(libpq `options`, services/runtime/config.py)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg2
import pytest

from services.runtime.config import ConfigError, ServerSettings, database_session_options
from services.runtime.db import Database
from tests.support import REPO_ROOT

SERVICES = ("customers", "catalog", "orders")


def role_setting(cluster, role: str, statement: str) -> None:
    """Runs `statement` as the role itself, with its own password: what an attacker holding it could."""
    conn = psycopg2.connect(cluster.service_url(role), connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def limits_seen(cluster, role: str) -> tuple[str, str]:
    async def scenario():
        db = await Database(cluster.service_url(role), 1, f"limits-{uuid.uuid4().hex[:8]}").open()
        try:
            async with db.autocommit() as session:
                return ((await session.one("SHOW statement_timeout"))[0],
                        (await session.one("SHOW idle_in_transaction_session_timeout"))[0])
        finally:
            await db.close()
    return asyncio.run(scenario())


def test_a_role_that_lifts_its_own_limits_does_not_lift_the_services(cluster, stack):
    role_setting(cluster, "catalog", "ALTER ROLE catalog SET statement_timeout = 0")
    role_setting(cluster, "catalog", "ALTER ROLE catalog SET idle_in_transaction_session_timeout = 0")
    try:
        with psycopg2.connect(cluster.service_url("catalog"), connect_timeout=5) as plain, plain.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0", "the attack did not take: the test proves nothing"
        plain.close()
        assert limits_seen(cluster, "catalog") == ("5s", "10s")
    finally:
        role_setting(cluster, "catalog", "ALTER ROLE catalog SET statement_timeout = '5s'")
        role_setting(cluster, "catalog", "ALTER ROLE catalog SET idle_in_transaction_session_timeout = '10s'")


def test_a_service_connection_is_cut_when_its_statement_outlives_its_limit(cluster):
    settings = ServerSettings.from_env("127.0.0.1:0", {"DATABASE_URL": cluster.service_url("orders"),
                                                       "DB_STATEMENT_TIMEOUT_SECONDS": "0.2"})

    async def scenario():
        db = await Database(settings.database_url, 1, f"limits-{uuid.uuid4().hex[:8]}",
                            settings.database_options).open()
        try:
            with pytest.raises(psycopg2.errors.QueryCanceled):
                async with db.autocommit() as session:
                    await session.one("SELECT pg_sleep(3)")
        finally:
            await db.close()
    asyncio.run(scenario())


@pytest.mark.parametrize("role", SERVICES)
def test_every_role_has_an_idle_in_transaction_limit(cluster, stack, role):
    with psycopg2.connect(cluster.service_url(role), connect_timeout=5) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "10s"
    conn.close()
    text = (REPO_ROOT / "db" / "provision.sql").read_text()
    assert f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '10s';" in text


def test_the_session_limits_come_from_settings_and_are_never_off():
    assert database_session_options({}) == "-c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000"
    assert database_session_options({"DB_STATEMENT_TIMEOUT_SECONDS": "2.5",
                                     "DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "60"}) == \
        "-c statement_timeout=2500 -c idle_in_transaction_session_timeout=60000"
    for name in ("DB_STATEMENT_TIMEOUT_SECONDS", "DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS"):
        for bad in ("0", "-1", "5s", "off"):
            with pytest.raises(ConfigError, match=name):
                ServerSettings.from_env("127.0.0.1:0", {"DATABASE_URL": "postgresql://x@/y", name: bad})
