"""Inputs built to break the services: each is INVALID_ARGUMENT naming the field, never a 500 or
a 503, and none of them costs the database pool a connection."""

import grpc
import pytest
from google.protobuf import timestamp_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.runtime import pagination
from tests.hostile import altered, forged_token
from tests.support import buy, create_customer, create_disc, raises_status, unique


@pytest.mark.parametrize("field", ["start_time", "end_time"])
@pytest.mark.parametrize("seconds, nanos", [(253402300800, 0), (-62135596801, 0), (0, -1), (0, 2_000_000_000)])
def test_a_timestamp_out_of_range_names_its_field(stack, field, seconds, nanos):
    request = orders_pb2.ListPurchasesRequest(**{field: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)})
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field, "TIMESTAMP_OUT_OF_RANGE"):
        stack.orders.ListPurchases(request, timeout=10)


# -- page tokens -------------------------------------------------------------------------------

def listings(stack):
    """Each listing: (its call with a page_token, the filters it fingerprints, a real token of it)."""
    artist = unique("Tokens")
    for _ in range(3):
        create_disc(stack, artist=artist)
    customer = create_customer(stack)
    disc = create_disc(stack)
    for _ in range(3):
        buy(stack, customer.id, disc.id)
        create_customer(stack)
    discs = lambda token: stack.catalog.ListDiscs(
        catalog_pb2.ListDiscsRequest(artist=artist, page_size=1, page_token=token), timeout=10)
    customers = lambda token: stack.customers.ListCustomers(
        customers_pb2.ListCustomersRequest(page_size=1, page_token=token), timeout=10)
    purchases = lambda token: stack.orders.ListPurchases(
        orders_pb2.ListPurchasesRequest(customer_id=customer.id, page_size=1, page_token=token), timeout=10)
    return {
        "discs": (discs, {"artist": artist, "title": None, "genre": None, "release_year": None}),
        "customers": (customers, {"show_deactivated": False}),
        "purchases": (purchases, {"customer_id": customer.id, "start_time": None, "end_time": None}),
    }


@pytest.fixture(scope="module")
def each_listing(stack):
    return listings(stack)


@pytest.mark.parametrize("listing", ["discs", "customers", "purchases"])
def test_every_altered_token_is_invalid_argument(each_listing, listing):
    call, _ = each_listing[listing]
    token = call("").next_page_token
    assert token and call(token).next_page_token  # a real token works
    for i in range(len(token)):
        with raises_status(grpc.StatusCode.INVALID_ARGUMENT, "page_token", "INVALID_PAGE_TOKEN"):
            call(altered(token, i))


@pytest.mark.parametrize("listing", ["discs", "customers", "purchases"])
@pytest.mark.parametrize("key", [["x"], [1], [[1, 2]], [{"a": 1}], [None, None], ["x", "y", "z"], "x"])
@pytest.mark.parametrize("signed", [False, True], ids=["forged", "leaked-secret"])
def test_a_token_built_by_hand_is_invalid_argument(each_listing, listing, key, signed):
    call, filters = each_listing[listing]
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, "page_token", "INVALID_PAGE_TOKEN"):
        call(forged_token(key, filters, pagination._process_secret() if signed else None))
