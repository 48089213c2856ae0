"""Each record type lists its table's columns in the table's order: rows become records as is."""

import re
from dataclasses import fields

import psycopg2
import pytest
from psycopg2 import sql

from services.catalog.model import Disc, Reservation, ReservationState
from services.customers.model import Customer, CustomerState
from services.orders.model import Purchase, PurchaseState


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


@pytest.mark.parametrize("role, table, states", [
    ("catalog", "reservations", ReservationState),
    ("customers", "customers", CustomerState),
    ("orders", "purchases", PurchaseState),
])
def test_a_tables_state_check_allows_exactly_its_models_states(cluster, stack, role, table, states):
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'c'", (f"{role}.{table}",))
        checks = [definition for (definition,) in cursor.fetchall()]
    conn.close()
    [state_check] = [d for d in checks if re.match(r"CHECK \(\(state = ANY", d)]
    assert set(re.findall(r"'(\w+)'::text", state_check)) == {state.value for state in states}
