"""Each record type lists its table's columns in the table's order: rows become records as is."""

from dataclasses import fields

import psycopg2
import pytest
from psycopg2 import sql

from services.catalog.model import Disc, Reservation
from services.customers.model import Customer
from services.orders.model import Purchase


@pytest.mark.parametrize("role, table, model", [
    ("catalog", "discs", Disc),
    ("catalog", "reservations", Reservation),
    ("customers", "customers", Customer),
    ("orders", "purchases", Purchase),
])
def test_a_record_has_its_tables_columns_in_order(cluster, stack, role, table, model):
    query = sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(role, table))
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        columns = [column.name for column in cursor.description]
    conn.close()
    assert columns == [f.name for f in fields(model)]
