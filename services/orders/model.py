"""The orders service's records, as the repository returns them.

A record's fields are its table's columns, in the table's order: the repository builds it from
a row as it comes (Model(*row)), and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PurchaseOrder:
    """What a client asks to buy."""

    customer_id: str
    disc_id: str
    quantity: int


@dataclass(frozen=True)
class Purchase:
    id: str
    request_id: str
    customer_id: str
    disc_id: str
    quantity: int
    state: str  # 'pending' | 'confirmed' | 'rejected' | 'cancelling' | 'cancelled' | 'failing' | 'failed'
    effective: bool
    unit_price_cents: int | None
    total_cents: int | None
    currency: str | None
    create_time: datetime
    update_time: datetime
    cancel_time: datetime | None
    failure_reason: str | None
    attempts: int
    customer_subject: str | None  # the buyer's token subject (see access.py)

    def is_for(self, order: PurchaseOrder) -> bool:
        return (self.customer_id, self.disc_id, self.quantity) == (order.customer_id, order.disc_id, order.quantity)


@dataclass(frozen=True)
class PurchaseFilter:
    customer_id: str | None = None
    customer_subject: str | None = None  # set for a customer: only its own purchases
    start_time: datetime | None = None
    end_time: datetime | None = None
