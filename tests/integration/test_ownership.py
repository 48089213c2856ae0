"""Who owns what: each service's role its schema, touching no other; each customer its purchases,
those the staff records for it at the counter included."""

import uuid

import grpc
import psycopg2
import pytest
from psycopg2 import sql
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from tests.support import as_customer, bearer, buy, create_customer, create_disc, raises_status, stock_of, unique

SCHEMAS = {"customers": ("customers", "customers"), "catalog": ("catalog", "discs"), "orders": ("orders", "purchases")}


@pytest.mark.parametrize("table", ["main", "outbox"])
@pytest.mark.parametrize("role", SCHEMAS)
@pytest.mark.parametrize("other", SCHEMAS)
def test_a_role_reads_only_its_own_schema(cluster, stack, role, other, table):
    """Its outbox too (<schema>.events): another service's events are read through its feed."""
    name = SCHEMAS[other] if table == "main" else (other, "events")
    count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*name))
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


# -- whose purchase a sale at the counter is -------------------------------------------------


def counter_sale(stack, customer_id: str, disc_id: str, quantity: int = 1, request_id: str = "",
                 staff: str = "clerk-ana") -> orders_pb2.Purchase:
    """The staff member `staff` records a purchase for the customer, at the counter."""
    request = orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=quantity),
        request_id=request_id)
    return stack.orders.CreatePurchase(request, metadata=bearer(stack.issuer.staff_token(staff)), timeout=10)


def test_a_sale_at_the_counter_is_its_customers_and_names_who_recorded_it(stack):
    ana, bia, disc = create_customer(stack), create_customer(stack), create_disc(stack, stock=5)
    sold = counter_sale(stack, ana.id, disc.id, quantity=2)
    assert (sold.state, sold.effective, sold.recorded_by) == (orders_pb2.Purchase.CONFIRMED, True, "clerk-ana")
    assert stock_of(stack, disc.id) == 3
    # The customer sees it among its own, and may cancel it; another customer cannot see it.
    as_ana = as_customer(stack, ana.id)
    assert stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=sold.id), metadata=as_ana) == sold
    assert [p.id for p in stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(), metadata=as_ana).purchases] \
        == [sold.id]
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=sold.id), metadata=as_customer(stack, bia.id))
    # Bought by the customer itself, a purchase names it as its recorder.
    own = buy(stack, ana.id, disc.id)
    assert own.recorded_by == stack.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=ana.id)).subject != ""
    cancelled = stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=sold.id), metadata=as_ana, timeout=10)
    assert cancelled.state == orders_pb2.Purchase.CANCELLED and stock_of(stack, disc.id) == 4


def test_a_request_id_is_its_customers_and_its_recorders(stack):
    """A staff member's retry is one purchase; the customer's own use of the same id is another."""
    ana, disc = create_customer(stack), create_disc(stack, stock=10)
    request_id = str(uuid.uuid4())
    at_counter = counter_sale(stack, ana.id, disc.id, quantity=2, request_id=request_id)
    assert counter_sale(stack, ana.id, disc.id, quantity=2, request_id=request_id) == at_counter
    own = buy(stack, ana.id, disc.id, quantity=1, request_id=request_id)
    assert own.id != at_counter.id and buy(stack, ana.id, disc.id, quantity=1, request_id=request_id) == own
    # Another member of the staff is another recorder; the same one with another order is refused.
    other_clerk = counter_sale(stack, ana.id, disc.id, quantity=3, request_id=request_id, staff="clerk-bia")
    assert other_clerk.id not in (at_counter.id, own.id)
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED"):
        counter_sale(stack, ana.id, disc.id, quantity=1, request_id=request_id)
    assert stock_of(stack, disc.id) == 10 - 2 - 1 - 3


def test_a_sale_at_the_counter_for_a_customer_the_staff_registered_is_the_staffs_to_see(stack):
    """Such a customer is bound to no one: no token acts as it, so no customer sees its purchases."""
    walk_in = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
        name="Walk-in", email=f"{unique('walkin')}@example.com")))
    assert walk_in.subject == ""
    disc = create_disc(stack, stock=2)
    sold = counter_sale(stack, walk_in.id, disc.id)
    assert sold.effective and sold.recorded_by == "clerk-ana"
    assert stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=sold.id)) == sold
    stranger = bearer(stack.issuer.customer_token(unique("stranger")))
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="PURCHASE_NOT_FOUND"):
        stack.orders.GetPurchase(orders_pb2.GetPurchaseRequest(id=sold.id), metadata=stranger)
    assert list(stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(), metadata=stranger).purchases) == []


def test_the_staff_sells_nothing_to_a_deactivated_customer_or_one_that_does_not_exist(stack):
    ana, disc = create_customer(stack), create_disc(stack, stock=2)
    stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=ana.id))
    with raises_status(grpc.StatusCode.FAILED_PRECONDITION, reason="CUSTOMER_DEACTIVATED"):
        counter_sale(stack, ana.id, disc.id)
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="CUSTOMER_NOT_FOUND"):
        counter_sale(stack, str(uuid.uuid4()), disc.id)
    assert stock_of(stack, disc.id) == 2
