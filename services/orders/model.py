"""The orders service's records, as the repository returns them, and the states of a purchase.

A record's fields are columns of its table, taken by name (runtime.db builds it from the
statement's columns); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PurchaseState(StrEnum):
    """The states of a purchase, as stored (the CHECK of orders.purchases.state lists the same).

    pending -> confirmed | rejected;  confirmed -> cancelling -> cancelled;
    pending -> failing -> failed  (it can never settle: see usecases).
    """

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILING = "failing"
    FAILED = "failed"

    @property
    def unfinished(self) -> bool:
        """A step is left to do (a retry or the recovery loop does it)."""
        return self in UNFINISHED


UNFINISHED = frozenset({PurchaseState.PENDING, PurchaseState.CANCELLING, PurchaseState.FAILING})


@dataclass(frozen=True)
class PurchaseOrder:
    """What a client asks to buy."""

    customer_id: str
    disc_id: str
    quantity: int


@dataclass(frozen=True)
class PendingPurchase:
    """A purchase to record as pending: the order, its request id, the subject its customer is
    bound to (who sees it) and the subject of the token that recorded it (whose request id it is)."""

    order: PurchaseOrder
    request_id: str
    customer_subject: str | None
    recorded_by: str | None


@dataclass(frozen=True)
class Settlement:
    """The outcome of a pending purchase's reservation, to record."""

    purchase_id: str
    granted: bool
    unit_price_cents: int
    currency: str


@dataclass(frozen=True)
class Purchase:
    id: str
    request_id: str
    customer_id: str
    disc_id: str
    quantity: int
    state: PurchaseState
    effective: bool
    unit_price_cents: int | None
    total_cents: int | None
    currency: str | None
    create_time: datetime
    update_time: datetime
    cancel_time: datetime | None
    failure_reason: str | None
    attempts: int
    customer_subject: str | None  # the subject its customer is bound to: who sees it (see access.py)
    recorded_by: str | None  # the subject of the token that recorded it: the customer's, or the staff's

    def __post_init__(self) -> None:
        if type(self.state) is not PurchaseState:  # as read from the database: text
            object.__setattr__(self, "state", PurchaseState(self.state))

    def is_for(self, order: PurchaseOrder) -> bool:
        return (self.customer_id, self.disc_id, self.quantity) == (order.customer_id, order.disc_id, order.quantity)


class ReservationOutcome(StrEnum):
    """What the catalog answered for a purchase's reservation (clients.py reads it off the reply)."""

    GRANTED = "granted"  # the units are taken
    REJECTED = "rejected"  # not enough stock: nothing taken
    RELEASED = "released"  # granted once, and given back since


@dataclass(frozen=True)
class Reservation:
    """The catalog's answer to ReserveStock, as the orders service needs it."""

    outcome: ReservationOutcome
    unit_price_cents: int
    currency: str


@dataclass(frozen=True)
class Buyer:
    """The customers service's answer to GetCustomer, as the orders service needs it."""

    id: str
    active: bool
    subject: str | None = None  # the subject the customer is bound to; None: registered by the staff


@dataclass(frozen=True)
class PurchaseFilter:
    customer_id: str | None = None
    customer_subject: str | None = None  # set for a customer: only its own purchases
    start_time: datetime | None = None
    end_time: datetime | None = None
