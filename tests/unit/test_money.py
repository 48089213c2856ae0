import pytest
from google.type import money_pb2

from services.runtime.errors import InvalidArgument
from services.runtime.money import from_cents, to_cents


def money(units, nanos=0, currency="BRL"):
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def test_whole_cents_convert_both_ways():
    assert to_cents("price", money(59, 900_000_000)) == (5990, "BRL")
    assert from_cents(5990, "BRL") == money(59, 900_000_000)
    assert from_cents(0, "USD") == money(0, 0, "USD")


@pytest.mark.parametrize("value, field", [
    (money(1, 5), "price.nanos"),
    (money(1, 1_000_000_000), "price.nanos"),
    (money(-1), "price"),
    (money(0, -10_000_000), "price"),
    (money(1, currency="brl"), "price.currency_code"),
    (money(1, currency=""), "price.currency_code"),
])
def test_fractions_of_a_cent_negatives_and_bad_currencies_are_refused(value, field):
    with pytest.raises(InvalidArgument) as caught:
        to_cents("price", value)
    assert caught.value.field == field
