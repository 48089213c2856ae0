"""Values that must be refused, and the largest ones that must still work, end to end over gRPC."""

import threading
import unicodedata
import uuid
from pathlib import Path

import grpc
import psycopg2
import pytest
from google.type import money_pb2
from psycopg2 import sql
from recordstore.catalog.v1 import catalog_pb2
from recordstore.orders.v1 import orders_pb2

from devstack.invariant import check
from services.catalog.model import MAX_STOCK
from services.orders.servicer import MAX_QUANTITY
from services.runtime.migrations import migrate
from services.runtime.money import MAX_PRICE_CENTS, MAX_PRICE_UNITS
from tests.support import MIGRATIONS, brl, buy, create_customer, create_disc, every_page, raises_status, stock_of, unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def money(units: int, nanos: int = 0, currency: str = "BRL") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def restock(stack, disc_id: str, quantity: int) -> catalog_pb2.Disc:
    return stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc_id, quantity=quantity))


def listed(stack, **filters) -> list[str]:
    return [d.id for d in every_page(stack.catalog.ListDiscs, catalog_pb2.ListDiscsRequest, "discs", **filters)]


# -- prices ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("price", [
    money(10**17),                              # overflowed bigint at the insert: a 500
    money(92233720368547758),                   # fitted, and overflowed at unit price * quantity
    money(MAX_PRICE_UNITS, 10_000_000),         # one cent beyond the maximum
])
def test_a_price_beyond_the_maximum_is_refused_naming_disc_price(stack, price):
    with raises_status(INVALID, field="disc.price", reason="PRICE_TOO_HIGH"):
        create_disc(stack, price=price)


@pytest.mark.parametrize("units, nanos", [(MAX_PRICE_UNITS, 0), (123_456_789_012, 340_000_000)])
def test_the_largest_price_can_be_bought_the_largest_quantity_of_times(stack, units, nanos):
    disc = create_disc(stack, price=money(units, nanos), stock=MAX_QUANTITY)
    assert (disc.price.units, disc.price.nanos) == (units, nanos)
    purchase = buy(stack, create_customer(stack).id, disc.id, quantity=MAX_QUANTITY)
    assert purchase.state == orders_pb2.Purchase.CONFIRMED and purchase.effective
    total_cents = (units * 100 + nanos // 10_000_000) * MAX_QUANTITY
    assert total_cents <= MAX_PRICE_CENTS * MAX_QUANTITY
    assert (purchase.total_price.currency_code, purchase.total_price.units, purchase.total_price.nanos) == (
        "BRL", total_cents // 100, total_cents % 100 * 10_000_000)


@pytest.mark.parametrize("code", ["XXX", "ZZZ", "XTS", "XAU", "BOV"])
def test_a_code_that_is_not_money_is_refused_as_currency(stack, code):
    with raises_status(INVALID, field="disc.price.currency_code", reason="UNSUPPORTED_CURRENCY"):
        create_disc(stack, price=money(10, currency=code))


@pytest.mark.parametrize("price", [money(59, 900_000_000, "BRL"), money(19, 990_000_000, "USD"),
                                   money(24, 500_000_000, "EUR"), money(3500, 0, "JPY")])
def test_real_currencies_are_accepted(stack, price):
    assert create_disc(stack, price=price).price == price


def test_a_yen_price_has_no_fraction(stack):
    with raises_status(INVALID, field="disc.price.nanos"):
        create_disc(stack, price=money(3500, 500_000_000, "JPY"))


# -- stock ----------------------------------------------------------------------------------------

def test_creation_and_restock_share_one_cap(stack):
    with raises_status(INVALID, field="disc.stock"):
        create_disc(stack, stock=MAX_STOCK + 1)
    disc = create_disc(stack, stock=MAX_STOCK - 5)
    with raises_status(INVALID, field="quantity", reason="STOCK_LIMIT_EXCEEDED") as caught:
        restock(stack, disc.id, 6)
    assert "room for 5 more" in caught.value.details()
    assert stock_of(stack, disc.id) == MAX_STOCK - 5
    assert restock(stack, disc.id, 5).stock == MAX_STOCK
    with raises_status(INVALID, field="quantity", reason="STOCK_LIMIT_EXCEEDED"):
        restock(stack, disc.id, 1)
    assert stock_of(stack, disc.id) == MAX_STOCK


@pytest.mark.parametrize("quantity", [MAX_STOCK + 1, 2**31 - 1])
def test_a_restock_quantity_beyond_the_cap_is_refused_before_any_io(stack, quantity):
    disc = create_disc(stack, stock=0)
    with raises_status(INVALID, field="quantity", reason="INVALID_FIELD"):
        restock(stack, disc.id, quantity)
    with raises_status(INVALID, field="quantity"):
        stack.catalog_as_orders.ReserveStock(catalog_pb2.ReserveStockRequest(
            reservation_id=str(uuid.uuid4()), disc_id=disc.id, quantity=quantity))
    assert stock_of(stack, disc.id) == 0


def test_concurrent_restocks_never_pass_the_cap(stack):
    disc = create_disc(stack, stock=MAX_STOCK - 10)
    outcomes = []
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait()
        try:
            outcomes.append(restock(stack, disc.id, 3).stock)
        except grpc.RpcError as error:
            outcomes.append(error.code())

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o for o in outcomes if isinstance(o, int)) == [MAX_STOCK - 7, MAX_STOCK - 4, MAX_STOCK - 1]
    assert [o for o in outcomes if not isinstance(o, int)] == [INVALID] * 5
    assert stock_of(stack, disc.id) == MAX_STOCK - 1


def test_a_cancel_after_a_restock_to_the_cap_still_gives_the_units_back(stack):
    disc = create_disc(stack, stock=10)
    purchase = buy(stack, create_customer(stack).id, disc.id, quantity=4)
    assert purchase.state == orders_pb2.Purchase.CONFIRMED
    restock(stack, disc.id, MAX_STOCK - 6)
    cancelled = stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=purchase.id))
    assert cancelled.state == orders_pb2.Purchase.CANCELLED
    assert stock_of(stack, disc.id) == MAX_STOCK + 4  # above the cap: units that were sold came back
    with raises_status(INVALID, field="quantity", reason="STOCK_LIMIT_EXCEEDED"):
        restock(stack, disc.id, 1)
    assert check(stack.cluster.admin_url, [disc.id]).ok


# -- text -----------------------------------------------------------------------------------------

def test_an_invisible_title_is_refused(stack):
    with raises_status(INVALID, field="disc.title", reason="INVALID_CHARACTERS"):
        create_disc(stack, title="\u200b\u200b")
    with raises_status(INVALID, field="disc.artist", reason="INVALID_CHARACTERS"):
        create_disc(stack, artist="Caetano\u2066 Veloso")
    with raises_status(INVALID, field="disc.genre", reason="INVALID_CHARACTERS"):
        create_disc(stack, genre="M\nPB")


def test_a_visually_blank_name_is_refused(stack):
    with raises_status(INVALID, field="customer.name", reason="INVALID_CHARACTERS") as caught:
        create_customer(stack, name="\u3164")
    assert "U+3164 HANGUL FILLER" in caught.value.details()
    with raises_status(INVALID, field="disc.artist", reason="INVALID_CHARACTERS"):
        create_disc(stack, artist="\u2800\u2800\u2800")


def test_a_bidi_override_in_a_customer_name_is_refused(stack):
    with raises_status(INVALID, field="customer.name", reason="INVALID_CHARACTERS"):
        create_customer(stack, name="Ana \u202eazuoS")
    with raises_status(INVALID, field="customer.document", reason="INVALID_CHARACTERS"):
        create_customer(stack, document="123.456\u200b.789-00")
    with raises_status(INVALID, field="customer.phone", reason="INVALID_CHARACTERS"):
        create_customer(stack, phone="+55 11\t5555-0000")
    with raises_status(INVALID, field="customer.email", reason="INVALID_CHARACTERS"):
        create_customer(stack, email=f"{unique('ana')}\u200b@example.com")


@pytest.mark.parametrize("name", ["João Gilberto", "Björk", "Sigur Rós", "坂本龍一", "فيروز", "עידן רייכל"])
def test_names_in_any_script_are_accepted_and_stored_in_nfc(stack, name):
    customer = create_customer(stack, name=unicodedata.normalize("NFD", name))
    assert customer.name == name
    disc = create_disc(stack, artist=unicodedata.normalize("NFD", name), title="Guitar 🎸 Family 👨‍👩‍👧")
    assert (disc.artist, disc.title) == (name, "Guitar 🎸 Family 👨‍👩‍👧")


def test_a_search_in_either_form_finds_the_stored_nfc(stack):
    family = unique("Conceição")
    disc = create_disc(stack, artist=unicodedata.normalize("NFD", f"João {family}"), genre="Música")
    assert disc.artist == f"João {family}"
    assert listed(stack, artist=unicodedata.normalize("NFD", f"joão {family}")) == [disc.id]
    assert listed(stack, artist=family, genre=unicodedata.normalize("NFD", "MÚSICA")) == [disc.id]
    with raises_status(INVALID, field="title", reason="INVALID_CHARACTERS"):
        stack.catalog.ListDiscs(catalog_pb2.ListDiscsRequest(title="Tran\u200bsa"))


# -- old rows -------------------------------------------------------------------------------------

@pytest.fixture
def scratch_catalog(cluster, tmp_path):
    """A database of its own with the catalog schema as migrations 0001-0005 left it."""
    name = unique("scratch").replace("-", "_")
    admin = psycopg2.connect(cluster.admin_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER builtin "
                               "BUILTIN_LOCALE 'C.UTF-8'").format(sql.Identifier(name)))
    inside = cluster.in_database(name)
    with psycopg2.connect(inside.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE SCHEMA catalog AUTHORIZATION catalog;"
                       "CREATE EXTENSION pg_trgm SCHEMA public; CREATE EXTENSION btree_gin SCHEMA public")
    conn.close()
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(Path(MIGRATIONS["catalog"]).glob("000[1-5]_*.sql")):
        (older / path.name).write_text(path.read_text())
    migrate(inside.service_url("catalog"), "catalog", older)
    yield inside
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def test_the_migrations_bring_old_rows_within_the_new_rules(scratch_catalog):
    url = scratch_catalog.service_url("catalog")
    insert = ("INSERT INTO catalog.discs (title, artist, genre, release_year, price_cents, currency, stock, "
              "initial_stock) VALUES (%s, %s, 'MPB', 1972, %s, 'BRL', %s, %s) RETURNING id")
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(insert, ("Probe", "Overflow", 9_223_372_036_854_775_800, 1, 1))
        probe = cursor.fetchone()[0]
        cursor.execute(insert, (unicodedata.normalize("NFD", "Águas de Março"), unicodedata.normalize("NFD", "Elis"),
                                5990, 1_000_000_000, 1_000_000_000))  # as the benchmark seeds its hot discs
        decomposed = cursor.fetchone()[0]
    conn.close()
    applied = migrate(url, "catalog", MIGRATIONS["catalog"])
    assert applied[:2] == ["0006_bound_prices_and_stock.sql", "0007_normalize_text.sql"]  # then any later one
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, title, artist, price_cents, stock FROM catalog.discs ORDER BY id")
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
        assert rows[probe] == ("Probe", "Overflow", MAX_PRICE_CENTS, 1)
        assert rows[decomposed] == ("Águas de Março", "Elis", 5990, 1_000_000_000)
        cursor.execute("UPDATE catalog.discs SET stock = stock - 1 WHERE id = %s", (decomposed,))  # still usable
        for bad in ("UPDATE catalog.discs SET price_cents = price_cents + 1 WHERE id = %s",
                    "UPDATE catalog.discs SET stock = initial_stock + restocked + 1 WHERE id = %s"):
            with pytest.raises(psycopg2.errors.CheckViolation):
                cursor.execute(bad, (probe,))
            conn.rollback()
    conn.close()
