"""The catalog's own errors, beyond the shared ones of runtime/errors.py."""

from __future__ import annotations


class ReservationIdTaken(Exception):
    """A reservation under this id exists already (made before, or at this very moment by a
    concurrent duplicate): the first outcome stands, and the use case reads it. Never reaches a
    client as such."""


class RestockIdTaken(Exception):
    """A restock under this request id was made at this very moment by a concurrent duplicate: its
    units are in, and the use case reads it. Never reaches a client as such."""
