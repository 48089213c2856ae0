"""The orders service's records, as the repository returns them."""

from __future__ import annotations

from dataclasses import dataclass, fields
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
    state: str  # 'pending' | 'confirmed' | 'rejected' | 'cancelling' | 'cancelled'
    effective: bool
    unit_price_cents: int | None
    total_cents: int | None
    currency: str | None
    create_time: datetime
    update_time: datetime
    cancel_time: datetime | None

    def is_for(self, order: PurchaseOrder) -> bool:
        return (self.customer_id, self.disc_id, self.quantity) == (order.customer_id, order.disc_id, order.quantity)


@dataclass(frozen=True)
class PurchaseFilter:
    customer_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


def from_row(row) -> Purchase:
    names = {f.name for f in fields(Purchase)}
    return Purchase(**{k: v for k, v in row.items() if k in names})
