"""The orders service reads its peers' answers into its own values, and an answer outside the
contract is the peer's failure (MalformedAnswer, INTERNAL), never INVALID_ARGUMENT."""

import grpc
import pytest
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2

from services.orders.clients import buyer_from_reply, reservation_from_reply
from services.orders.errors import MalformedAnswer
from services.orders.model import Buyer, Reservation, ReservationOutcome

RID, DISC = "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"


def reply(**changes) -> catalog_pb2.Reservation:
    fields = {"id": RID, "disc_id": DISC, "quantity": 2, "state": catalog_pb2.Reservation.GRANTED,
              "unit_price": money_pb2.Money(currency_code="BRL", units=59, nanos=900_000_000), **changes}
    return catalog_pb2.Reservation(**fields)


def test_a_reservation_becomes_the_orders_services_own_value():
    assert reservation_from_reply(RID, DISC, 2, reply()) == Reservation(ReservationOutcome.GRANTED, 5990, "BRL")
    rejected = reservation_from_reply(RID, DISC, 2, reply(state=catalog_pb2.Reservation.REJECTED))
    assert rejected.outcome == ReservationOutcome.REJECTED


@pytest.mark.parametrize("changes, says", [
    ({"unit_price": money_pb2.Money(currency_code="BRL", units=1, nanos=5)}, "price"),
    ({"unit_price": money_pb2.Money(currency_code="BRL", units=-1)}, "price"),
    ({"unit_price": money_pb2.Money(currency_code="", units=1)}, "price"),
    ({"state": catalog_pb2.Reservation.STATE_UNSPECIFIED}, "state"),
    ({"quantity": 3}, "reservation"),
    ({"disc_id": RID}, "reservation"),
])
def test_a_malformed_reservation_is_the_catalogs_failure(changes, says):
    with pytest.raises(MalformedAnswer) as caught:
        reservation_from_reply(RID, DISC, 2, reply(**changes))
    error = caught.value
    assert error.code == grpc.StatusCode.INTERNAL and error.reason == "CATALOG_MALFORMED_ANSWER"
    assert says in error.message and "unit_price" not in error.message


def test_a_customer_becomes_a_buyer_and_a_malformed_one_is_the_customers_services_failure():
    active = customers_pb2.Customer(id=RID, state=customers_pb2.Customer.ACTIVE)
    gone = customers_pb2.Customer(id=RID, state=customers_pb2.Customer.DEACTIVATED)
    assert buyer_from_reply(RID, active) == Buyer(RID, True)
    assert buyer_from_reply(RID, gone) == Buyer(RID, False)
    for wrong in (customers_pb2.Customer(id=RID), customers_pb2.Customer(id=DISC, state=customers_pb2.Customer.ACTIVE)):
        with pytest.raises(MalformedAnswer) as caught:
            buyer_from_reply(RID, wrong)
        assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.INTERNAL, "CUSTOMERS_MALFORMED_ANSWER")
