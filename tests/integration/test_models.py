"""Each record type is made of its table's columns, taken by name (runtime.db), and knows every
state its table allows."""

import re
from dataclasses import fields

import psycopg2
import pytest
from psycopg2 import sql

from services.catalog.model import Disc, Reservation, ReservationState, Restock
from services.customers.model import Customer, CustomerState
from services.orders.model import Purchase, PurchaseState


@pytest.mark.parametrize("role, table, model", [
    ("catalog", "discs", Disc),
    ("catalog", "reservations", Reservation),
    ("catalog", "restocks", Restock),
    ("customers", "customers", Customer),
    ("orders", "purchases", Purchase),
])
def test_a_records_fields_are_columns_of_its_table(cluster, stack, role, table, model):
    query = sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(role, table))
    with psycopg2.connect(cluster.service_url(role)) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        columns = [column.name for column in cursor.description]
    conn.close()
    assert {f.name for f in fields(model)} <= set(columns)  # by name: the columns' order is not the API


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
