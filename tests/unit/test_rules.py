"""The request rules stated in the protos, as the services enforce them (services/runtime/rules.py)."""

import pytest
from google.protobuf import timestamp_pb2
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.catalog.model import MAX_STOCK
from services.orders.servicer import MAX_QUANTITY
from services.runtime import rules
from services.runtime.errors import InvalidArgument
from services.runtime.money import MAX_PRICE_UNITS

ID = "0190A000-0000-7000-8000-00000000000A"
PAGE_SIZE = rules.of(catalog_pb2.ListDiscsRequest, "page_size")  # every listing's (a test below)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = PAGE_SIZE.default_value, PAGE_SIZE.maximum


def refused(message, prefix="") -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        rules.checked(message, prefix)
    return caught.value


def disc(**fields):
    values = {"title": " Acabou Chorare ", "artist": "Novos Baianos", "genre": "MPB", "release_year": 1972,
              "price": money_pb2.Money(currency_code="BRL", units=59, nanos=900_000_000), "stock": 3, **fields}
    return catalog_pb2.Disc(**values)


def test_the_constants_the_code_uses_are_the_ones_the_protos_state():
    assert MAX_STOCK == rules.of(catalog_pb2.Disc, "stock").maximum == 1_000_000
    assert MAX_QUANTITY == rules.of(orders_pb2.Purchase, "quantity").maximum == 1000
    assert MAX_PRICE_UNITS == rules.of(catalog_pb2.Disc, "price").money.max_units == 10**12
    assert (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) == (50, 1000)


def test_every_listing_states_the_same_page_size_rules():
    stated = {str(rules.of(request, "page_size")) for request in (
        catalog_pb2.ListDiscsRequest, customers_pb2.ListCustomersRequest, orders_pb2.ListPurchasesRequest)}
    assert len(stated) == 1


def test_a_valid_disc_comes_out_cleaned():
    fields = rules.checked(disc(), "disc")
    assert fields == {"title": "Acabou Chorare", "artist": "Novos Baianos", "genre": "MPB", "release_year": 1972,
                      "price": (5990, "BRL"), "stock": 3}


@pytest.mark.parametrize("change, field, reason", [
    ({"release_year": 999}, "disc.release_year", "INVALID_FIELD"),
    ({"release_year": 10000}, "disc.release_year", "INVALID_FIELD"),
    ({"stock": -1}, "disc.stock", "INVALID_FIELD"),
    ({"stock": MAX_STOCK + 1}, "disc.stock", "INVALID_FIELD"),
    ({"genre": "x" * 51}, "disc.genre", "INVALID_FIELD"),
    ({"title": "   "}, "disc.title", "INVALID_FIELD"),
    ({"title": "A\u202eB"}, "disc.title", "INVALID_CHARACTERS"),
    ({"price": money_pb2.Money(currency_code="BRL", units=MAX_PRICE_UNITS, nanos=10_000_000)}, "disc.price",
     "PRICE_TOO_HIGH"),
    ({"price": money_pb2.Money(currency_code="XAU", units=1)}, "disc.price.currency_code", "UNSUPPORTED_CURRENCY"),
    ({"price": money_pb2.Money(currency_code="BRL", units=1, nanos=5)}, "disc.price.nanos", "INVALID_FIELD"),
])
def test_a_disc_breaking_a_rule_is_refused_naming_the_field(change, field, reason):
    error = refused(disc(**change), "disc")
    assert (error.field, error.reason) == (field, reason)


def test_a_missing_price_is_required():
    message = disc()
    message.ClearField("price")
    assert (refused(message, "disc").field, refused(message, "disc").description) == ("disc.price", "is required")


@pytest.mark.parametrize("value", ["{%s}" % ID, ID.replace("-", ""), f"urn:uuid:{ID}", "0", " " + ID])
def test_an_id_is_a_uuid_in_its_canonical_form_only(value):
    assert refused(catalog_pb2.GetDiscRequest(id=value)).field == "id"


def test_an_id_comes_out_in_lower_case():
    assert rules.checked(catalog_pb2.GetDiscRequest(id=ID))["id"] == ID.lower()


def test_zero_is_unset_for_optional_filters():
    fields = rules.checked(catalog_pb2.ListDiscsRequest())
    assert fields == {"page_size": DEFAULT_PAGE_SIZE, "artist": None, "title": None, "genre": None, "release_year": None}
    assert refused(catalog_pb2.ListDiscsRequest(release_year=999)).field == "release_year"


def test_page_size_is_clamped_above_and_refused_below():
    assert rules.checked(customers_pb2.ListCustomersRequest(page_size=5000))["page_size"] == MAX_PAGE_SIZE
    assert refused(customers_pb2.ListCustomersRequest(page_size=-1)).field == "page_size"


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_a_purchase_quantity_is_1_to_max(quantity):
    message = orders_pb2.Purchase(customer_id=ID, disc_id=ID, quantity=quantity)
    assert refused(message, "purchase").field == "purchase.quantity"


def test_email_must_look_like_one():
    error = refused(customers_pb2.Customer(name="Ana", email="ana.example.com"), "customer")
    assert error.field == "customer.email" and "email address" in error.description


def test_end_time_must_follow_start_time():
    moment = timestamp_pb2.Timestamp(seconds=1_800_000_000)
    error = refused(orders_pb2.ListPurchasesRequest(start_time=moment, end_time=moment))
    assert (error.field, error.description) == ("end_time", "must be after start_time")
    later = timestamp_pb2.Timestamp(seconds=1_800_000_001)
    assert rules.checked(orders_pb2.ListPurchasesRequest(start_time=moment, end_time=later))["end_time"]


def test_a_start_time_out_of_timestamp_range_is_refused_even_without_rules():
    error = refused(orders_pb2.ListPurchasesRequest(start_time=timestamp_pb2.Timestamp(seconds=-62_135_596_801)))
    assert (error.field, error.reason) == ("start_time", "TIMESTAMP_OUT_OF_RANGE")
