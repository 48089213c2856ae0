"""The customers service's records, as the repository returns them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True)
class NewCustomer:
    name: str
    email: str
    document: str | None
    phone: str | None


@dataclass(frozen=True)
class Customer:
    id: str
    request_id: str | None
    name: str
    email: str
    document: str | None
    phone: str | None
    state: str  # 'active' | 'deactivated'
    create_time: datetime
    deactivate_time: datetime | None


def from_row(row) -> Customer:
    names = {f.name for f in fields(Customer)}
    return Customer(**{k: v for k, v in row.items() if k in names})
