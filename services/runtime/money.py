"""Money as integer cents inside the services, google.type.Money on the wire. Never a float."""

from __future__ import annotations

import re
from types import MappingProxyType

import iso4217
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.rules.v1 import rules_pb2

from .errors import InvalidArgument

NANOS_PER_CENT = 10_000_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")

# The highest price anything may have, in units of its currency: a trillion. Far above any record
# ever sold (about 2e6 USD) even in the currencies with the most units to the dollar (IRR, VND),
# and low enough that the total of a purchase of orders' MAX_QUANTITY (1,000) units, 1e15 units or
# 1e17 cents, stays far inside bigint (9.2e18) and below 2**53, so a JSON client that reads
# `units` into a double still gets it exactly. tests/unit/test_money.py holds the two together.
# The bound itself is stated on the one price anyone sets, the Disc's, in catalog.proto.
PRICE_RULES = catalog_pb2.Disc.DESCRIPTOR.fields_by_name["price"].GetOptions().Extensions[rules_pb2.field].money
MAX_PRICE_UNITS = PRICE_RULES.max_units
MAX_PRICE_CENTS = MAX_PRICE_UNITS * 100


def _money_currencies() -> MappingProxyType:
    """ISO 4217 codes a shop can price in -> their minor units, from ISO's own table.

    Left out, by ISO's own marks rather than by a list typed here: the funds (IsFund: BOV, CLF,
    USN, ...), which are units of account for banks, not what a customer pays with; and the codes
    without minor units ("N.A."): gold, silver and other metals, bond market units, SDR, XTS (kept
    for testing) and XXX (no currency at all).
    """
    currencies = {}
    for entry in iso4217.raw_xml.iter("CcyNtry"):
        code, minor = (entry.findtext(tag, "").strip() for tag in ("Ccy", "CcyMnrUnts"))
        fund = entry.find("CcyNm[@IsFund='true']") is not None
        if code and minor.isdigit() and not fund:
            currencies[code] = int(minor)
    return MappingProxyType(currencies)


CURRENCIES = _money_currencies()


def to_cents(field: str, money: money_pb2.Money) -> tuple[int, str]:
    """(cents, currency) of a non-negative amount in whole cents."""
    if not _CURRENCY.match(money.currency_code):
        raise InvalidArgument(f"{field}.currency_code", "must be an ISO 4217 code such as BRL")
    if money.units < 0 or money.nanos < 0:
        raise InvalidArgument(field, "must not be negative")
    if money.nanos >= 1_000_000_000 or money.nanos % NANOS_PER_CENT:
        raise InvalidArgument(f"{field}.nanos", "must be whole cents (a multiple of 10000000 below 1e9)")
    return money.units * 100 + money.nanos // NANOS_PER_CENT, money.currency_code


def price_to_cents(field: str, money: money_pb2.Money, rules: rules_pb2.MoneyRules = PRICE_RULES) -> tuple[int, str]:
    """(cents, currency) of a price someone sets: to_cents, in a currency that is money, bounded.

    Only for prices coming in; amounts the services already hold (a reservation's unit price)
    go through to_cents, so that a rule added later never makes old data unreadable.
    """
    cents, currency = to_cents(field, money)
    minor_units = CURRENCIES.get(currency)
    if minor_units is None:
        raise InvalidArgument(
            f"{field}.currency_code",
            f"{currency!r} is not an ISO 4217 currency a price can be set in (such as BRL)",
            "UNSUPPORTED_CURRENCY",
        )
    if minor_units == 0 and money.nanos:
        raise InvalidArgument(f"{field}.nanos", f"must be 0: {currency} has no minor unit")
    if rules.max_units and cents > rules.max_units * 100:
        raise InvalidArgument(
            field,
            f"must be at most {rules.max_units} {currency}, got {money.units}",
            rules.max_units_reason or "INVALID_FIELD",
        )
    return cents, currency


def from_cents(cents: int, currency: str) -> money_pb2.Money:
    units, rest = divmod(cents, 100)
    return money_pb2.Money(currency_code=currency, units=units, nanos=rest * NANOS_PER_CENT)
