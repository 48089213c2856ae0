import pytest
from google.type import money_pb2

from services.runtime.errors import InvalidArgument
from services.orders.servicer import MAX_QUANTITY
from services.runtime.money import (CURRENCIES, MAX_PRICE_CENTS, MAX_PRICE_UNITS, from_cents, price_to_cents,
                                    to_cents)


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


@pytest.mark.parametrize("code, minor_units", [("BRL", 2), ("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3),
                                                ("XOF", 0), ("XCD", 2)])
def test_currencies_come_from_iso_4217_with_their_minor_units(code, minor_units):
    assert CURRENCIES[code] == minor_units


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XAG", "XDR", "XBA", "BOV", "CLF", "USN", "UYI", "ZZZ", "AAA"])
def test_codes_that_are_not_money_a_shop_prices_in_are_refused(code):
    assert code not in CURRENCIES
    with pytest.raises(InvalidArgument) as caught:
        price_to_cents("price", money(10, currency=code))
    assert (caught.value.field, caught.value.reason) == ("price.currency_code", "UNSUPPORTED_CURRENCY")


def test_a_currency_without_minor_units_takes_whole_units_only():
    assert price_to_cents("price", money(1500, currency="JPY")) == (150_000, "JPY")
    with pytest.raises(InvalidArgument) as caught:
        price_to_cents("price", money(1500, 500_000_000, currency="JPY"))
    assert caught.value.field == "price.nanos"


def test_the_maximum_price_is_accepted_and_one_cent_more_is_not():
    assert price_to_cents("price", money(MAX_PRICE_UNITS)) == (MAX_PRICE_CENTS, "BRL")
    for too_much in (money(MAX_PRICE_UNITS, 10_000_000), money(10**17), money(92233720368547758)):
        with pytest.raises(InvalidArgument) as caught:
            price_to_cents("price", too_much)
        assert (caught.value.field, caught.value.reason) == ("price", "PRICE_TOO_HIGH")


def test_the_largest_purchase_total_fits_bigint_and_a_json_double():
    largest_total_cents = MAX_PRICE_CENTS * MAX_QUANTITY
    assert largest_total_cents <= 2**63 - 1  # orders.purchases.total_cents is a bigint
    assert from_cents(largest_total_cents, "BRL").units <= 2**53  # exact in a JavaScript number
