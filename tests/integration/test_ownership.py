"""Each service's role owns its schema and can touch no other."""

import psycopg2
import pytest
from psycopg2 import sql

SCHEMAS = {"customers": ("customers", "customers"), "catalog": ("catalog", "discs"), "orders": ("orders", "purchases")}


@pytest.mark.parametrize("role", SCHEMAS)
@pytest.mark.parametrize("other", SCHEMAS)
def test_a_role_reads_only_its_own_schema(cluster, stack, role, other):
    count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*SCHEMAS[other]))
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        if role == other:
            cursor.execute(count)
            assert cursor.fetchone()[0] >= 0
        else:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(count)
    conn.close()


@pytest.mark.parametrize("role", SCHEMAS)
def test_a_role_cannot_create_objects_elsewhere(cluster, stack, role):
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("CREATE TABLE public.intruder (id int)")
    conn.close()


def test_no_foreign_key_crosses_schemas(cluster, stack):
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("""
            SELECT conname FROM pg_constraint c
              JOIN pg_class src ON src.oid = c.conrelid
              JOIN pg_class dst ON dst.oid = c.confrelid
             WHERE c.contype = 'f' AND src.relnamespace <> dst.relnamespace""")
        assert cursor.fetchall() == []
    conn.close()
