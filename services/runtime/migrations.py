"""Forward-only SQL migrations, `NNNN_verb_object.sql`, applied at start in one transaction.

An advisory lock serialises replicas that start at once: the second waits, then finds every
migration applied and does nothing. This runs before serving, on a plain connection of its own.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import psycopg2
from psycopg2 import sql

log = logging.getLogger(__name__)
_FILE_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNNN_verb_object.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{directory}: two migrations share a version number")
    return found


def migrate(url: str, schema: str, directory: Path) -> list[str]:
    """Applies the pending migrations of `schema`; returns the names of those it applied."""
    create_table = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    ).format(sql.Identifier(schema))
    select_applied = sql.SQL("SELECT version FROM {}.schema_migrations").format(sql.Identifier(schema))
    record = sql.SQL("INSERT INTO {}.schema_migrations (version, name) VALUES (%s, %s)").format(sql.Identifier(schema))
    applied_now = []
    conn = psycopg2.connect(url, application_name=f"{schema}-migrations")
    try:
        with conn, conn.cursor() as cursor:  # one transaction: all of it, or nothing
            # A migration may rebuild an index over a million rows: the role's statement_timeout
            # (db/provision.sql) is for the service's queries, not for this transaction.
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"migrations:{schema}",))
            cursor.execute(create_table)
            cursor.execute(select_applied)
            applied = {row[0] for row in cursor.fetchall()}
            for version, path in migration_files(directory):
                if version in applied:
                    continue
                cursor.execute(path.read_text())
                cursor.execute(record, (version, path.name))
                applied_now.append(path.name)
    finally:
        conn.close()
    for name in applied_now:
        log.info("applied migration %s.%s", schema, name)
    return applied_now
