"""The customers service's records, as the repository returns them, and a customer's states.

A record's fields are columns of its table, taken by name (runtime.db builds it from the
statement's columns); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CustomerState(StrEnum):
    """As stored (the CHECK of customers.customers.state lists the same); deactivated keeps the row."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"


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
    state: CustomerState
    create_time: datetime
    deactivate_time: datetime | None
    subject: str | None  # the identity provider's subject it is bound to; None when the staff registered it

    def is_for(self, customer: NewCustomer) -> bool:
        """Whether `customer` is the request that created this one (a retry), judged on the stored
        fields rather than a hash of the request: both sides are the cleaned values (NFC, trimmed),
        so a retry in another Unicode form is the same request, and customers made before this
        check are judged too. The email is compared as stored, case included: the service keeps
        the case it was sent in, so another case would have made another record (and, sent
        without the id, is EMAIL_TAKEN)."""
        stored = (self.name, self.email, self.document, self.phone)
        return stored == (customer.name, customer.email, customer.document, customer.phone)

    def __post_init__(self) -> None:
        if type(self.state) is not CustomerState:  # as read from the database: text
            object.__setattr__(self, "state", CustomerState(self.state))
