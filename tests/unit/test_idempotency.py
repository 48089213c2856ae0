"""The request id as the client gave it, the refusal that names it, and what counts as the same
request: pure logic, no server."""

import uuid
from datetime import UTC, datetime

import pytest

from services.catalog.model import Disc, NewDisc
from services.customers.model import Customer, CustomerState, NewCustomer
from services.runtime import idempotency
from services.runtime.errors import InvalidArgument


class Context:
    """What the functions read of a grpc.aio context: the call's metadata."""

    def __init__(self, *metadata):
        self._metadata = metadata

    def invocation_metadata(self):
        return self._metadata


def test_a_key_that_is_no_uuid_is_named_as_sent_not_as_the_id_it_maps_to():
    request_id = idempotency.request_id(Context(("idempotency-key", "cart-1")), {}, scope="s")
    assert request_id == idempotency.key_to_request_id("cart-1", "s") and uuid.UUID(request_id)
    error = idempotency.RequestIdReused(request_id, "another purchase")
    assert error.message == "Idempotency-Key 'cart-1' was used for another purchase"
    assert error.reason == "REQUEST_ID_REUSED" and str(request_id) not in error.message


def test_a_uuid_is_stored_canonical_and_named_as_sent():
    sent = str(uuid.uuid4()).upper()
    from_header = idempotency.request_id(Context(("idempotency-key", sent)), {})
    assert from_header == sent.lower() and from_header.named == f"Idempotency-Key {sent!r}"
    from_field = idempotency.request_id(Context(), {"purchase.request_id": sent, "request_id": ""})
    assert from_field == sent.lower() and from_field.named == f"purchase.request_id {sent!r}"
    assert idempotency.request_id(Context(), {"request_id": ""}) is None


def test_refuse_key_names_the_header_only_when_it_is_sent():
    idempotency.refuse_key(Context(("authorization", "Bearer x")), "CancelPurchase")
    with pytest.raises(InvalidArgument) as caught:
        idempotency.refuse_key(Context(("idempotency-key", "k")), "CancelPurchase")
    assert caught.value.field == "Idempotency-Key" and caught.value.reason == "IDEMPOTENCY_KEY_NOT_ACCEPTED"
    assert "CancelPurchase" in caught.value.message


NOW = datetime.now(UTC)


def test_a_disc_is_for_the_request_that_made_it_whatever_its_stock_now():
    sent = NewDisc(title="Transa", artist="Caetano", genre="MPB", release_year=1972, price_cents=5990,
                   currency="BRL", stock=3)
    stored = Disc(id="d", request_id="r", title="Transa", artist="Caetano", genre="MPB", release_year=1972,
                  price_cents=5990, currency="BRL", stock=40, initial_stock=3, restocked=37, create_time=NOW,
                  update_time=NOW)
    assert stored.is_for(sent)
    for change in ({"title": "Bicho"}, {"stock": 40}, {"price_cents": 5991}, {"currency": "USD"},
                   {"release_year": 1971}, {"genre": "mpb"}, {"artist": "Gal"}):
        assert not stored.is_for(NewDisc(**{**vars(sent), **change})), change


def test_a_customer_is_for_the_request_that_made_it_email_case_included():
    sent = NewCustomer(name="Rui", email="Rui@example.com", document=None, phone="+55 11")
    stored = Customer(id="c", request_id="r", name="Rui", email="Rui@example.com", document=None, phone="+55 11",
                      state=CustomerState.DEACTIVATED, create_time=NOW, deactivate_time=NOW, subject="s")
    assert stored.is_for(sent)  # deactivated since: still the record that request made
    for change in ({"email": "rui@example.com"}, {"name": "Ruy"}, {"document": "1"}, {"phone": None}):
        assert not stored.is_for(NewCustomer(**{**vars(sent), **change})), change
