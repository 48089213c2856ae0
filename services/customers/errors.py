"""The customers service's own errors, beyond the shared ones of runtime/errors.py."""

from __future__ import annotations

from ..runtime.errors import AlreadyExists


class EmailTaken(AlreadyExists):
    def __init__(self, email: str):
        super().__init__(f"a customer with email {email!r} already exists", "EMAIL_TAKEN")


class AlreadySignedUp(AlreadyExists):
    def __init__(self) -> None:
        super().__init__("this account has signed up already", "ALREADY_SIGNED_UP")
