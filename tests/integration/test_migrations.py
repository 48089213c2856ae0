import threading

import psycopg2
from psycopg2 import sql

from services.runtime.migrations import migrate
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
