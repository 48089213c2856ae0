import threading

import psycopg2
import pytest
from psycopg2 import sql

from devstack.postgres import SERVICES
from services.runtime.migrations import migrate
from tests.schema import dump, normalize, schema_file
from tests.support import MIGRATIONS, unique


def test_migrations_are_recorded_and_not_applied_twice(cluster, stack):
    for name in stack.databases:
        assert migrate(cluster.service_url(name), name, MIGRATIONS[name]) == []
        with psycopg2.connect(cluster.service_url(name)) as conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT version, name FROM {}.schema_migrations ORDER BY version")
                           .format(sql.Identifier(name)))
            applied = [row[1] for row in cursor.fetchall()]
        conn.close()
        assert applied == sorted(p.name for p in MIGRATIONS[name].glob("*.sql"))


def test_replicas_starting_at_once_apply_each_migration_once(cluster, tmp_path):
    """Four 'replicas' migrate a fresh schema concurrently: no error, one application each."""
    schema = unique("scratch").replace("-", "_")
    admin = psycopg2.connect(cluster.admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    (tmp_path / "0001_create_things.sql").write_text(f"CREATE TABLE {schema}.things (id int PRIMARY KEY);")
    (tmp_path / "0002_add_label.sql").write_text(f"ALTER TABLE {schema}.things ADD COLUMN label text;")
    results, errors = [], []
    barrier = threading.Barrier(4)

    def replica():
        barrier.wait()
        try:
            results.append(migrate(cluster.admin_url, schema, tmp_path))
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], ["0001_create_things.sql", "0002_add_label.sql"]]
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}.schema_migrations").format(sql.Identifier(schema)))
        assert cursor.fetchone()[0] == 2
        cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    admin.close()


@pytest.mark.parametrize("name", SERVICES)
def test_the_committed_schema_is_what_the_migrations_build(cluster, stack, name):
    """services/<name>/schema.sql, read by people, against the schema the migrations made this session."""
    built = dump(cluster.admin_url, name)
    assert built == schema_file(name).read_text(), (
        f"services/{name}/schema.sql is not what the migrations build: run `.venv/bin/python -m tests.schema`")


def test_normalising_a_dump_drops_what_changes_with_the_run_not_the_schema():
    raw = ("--\n-- PostgreSQL database dump\n--\n\\restrict AbC123\nSET statement_timeout = 0;\n"
           "SELECT pg_catalog.set_config('search_path', '', false);\n\n\n\nCREATE SCHEMA s;   \n\n\n"
           "CREATE TABLE s.t (\n    id integer\n);\n\\unrestrict AbC123\n")
    assert normalize(raw) == "CREATE SCHEMA s;\n\nCREATE TABLE s.t (\n    id integer\n);\n"
