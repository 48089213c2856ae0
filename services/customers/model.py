"""The customers service's records, as the repository returns them.

A record's fields are its table's columns, in the table's order: the repository builds it from
a row as it comes (Model(*row)), and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    subject: str | None  # the identity provider's subject it is bound to; None when the staff registered it
