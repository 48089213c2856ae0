"""Money as integer cents inside the services, google.type.Money on the wire. Never a float."""

from __future__ import annotations

import re

from google.type import money_pb2

from .errors import InvalidArgument

NANOS_PER_CENT = 10_000_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def to_cents(field: str, money: money_pb2.Money) -> tuple[int, str]:
    """(cents, currency) of a non-negative amount in whole cents."""
    if not _CURRENCY.match(money.currency_code):
        raise InvalidArgument(f"{field}.currency_code", "must be an ISO 4217 code such as BRL")
    if money.units < 0 or money.nanos < 0:
        raise InvalidArgument(field, "must not be negative")
    if money.nanos >= 1_000_000_000 or money.nanos % NANOS_PER_CENT:
        raise InvalidArgument(f"{field}.nanos", "must be whole cents (a multiple of 10000000 below 1e9)")
    return money.units * 100 + money.nanos // NANOS_PER_CENT, money.currency_code


def from_cents(cents: int, currency: str) -> money_pb2.Money:
    units, rest = divmod(cents, 100)
    return money_pb2.Money(currency_code=currency, units=units, nanos=rest * NANOS_PER_CENT)
