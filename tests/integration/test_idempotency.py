"""A request id names one request (AIP-155), over gRPC: sent again with the same fields it answers
the first result; with other fields it is refused, naming the id as the client sent it. RestockDisc
takes a key too; the methods that are idempotent without one refuse it."""

import threading
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.catalog.model import MAX_STOCK
from services.runtime.idempotency import key_to_request_id
from tests.support import (as_customer, bearer, brl, buy, create_customer, create_disc, raises_status, stock_of,
                           unique)


def key(value: str) -> tuple[tuple[str, str]]:
    return (("idempotency-key", value),)


def disc_request(request_id: str = "", **fields) -> catalog_pb2.CreateDiscRequest:
    values = {"title": "Tropicália", "artist": unique("Vários"), "genre": "MPB", "release_year": 1968,
              "price": brl(40), "stock": 2, **fields}
    return catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(**values), request_id=request_id)


def restock(stack, disc_id: str, quantity: int, metadata=()) -> catalog_pb2.Disc:
    return stack.catalog.RestockDisc(catalog_pb2.RestockDiscRequest(id=disc_id, quantity=quantity),
                                     metadata=metadata, timeout=10)


# -- creates: the same request again, or another under its id -----------------------------------

def test_a_disc_request_id_sent_with_another_disc_is_refused(stack):
    first_request = disc_request(str(uuid.uuid4()), title="T1")
    first = stack.catalog.CreateDisc(first_request)
    other = catalog_pb2.CreateDiscRequest()
    other.CopyFrom(first_request)
    for change in ({"title": "T2"}, {"stock": 3}, {"release_year": 1969}, {"price": brl(41)}, {"genre": "Rock"}):
        other.disc.CopyFrom(first_request.disc)
        for name, value in change.items():
            if name == "price":
                other.disc.price.CopyFrom(value)
            else:
                setattr(other.disc, name, value)
        with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED") as caught:
            stack.catalog.CreateDisc(other)
        assert first_request.request_id in caught.value.details()
    # The same request still answers the first disc, stock as it came in though it moved since.
    restock(stack, first.id, 5)
    again = stack.catalog.CreateDisc(first_request)
    assert again.id == first.id and again.title == "T1" and again.stock == 7


def test_a_disc_retry_in_another_unicode_form_is_the_same_request(stack):
    request = disc_request(str(uuid.uuid4()), title="Tropicália ou Panis et Circencis")
    first = stack.catalog.CreateDisc(request)
    request.disc.title = "  " + unicodedata.normalize("NFD", request.disc.title) + " "  # cleaned to the same
    assert stack.catalog.CreateDisc(request) == first


def test_a_disc_key_reused_names_the_key_not_the_id_it_maps_to(stack):
    sent = f"catalog-import-{uuid.uuid4().hex[:8]}"
    first = stack.catalog.CreateDisc(disc_request(title="T1"), metadata=key(sent))
    assert stack.catalog.CreateDisc(disc_request(title="T1", artist=first.artist), metadata=key(sent)) == first
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED") as caught:
        stack.catalog.CreateDisc(disc_request(title="T2", artist=first.artist), metadata=key(sent))
    assert f"Idempotency-Key '{sent}'" in caught.value.details()
    assert key_to_request_id(sent, "disc") not in caught.value.details()


def test_a_customer_request_id_sent_with_another_customer_is_refused(stack):
    email = f"{unique('rui')}@example.com"
    request = customers_pb2.CreateCustomerRequest(
        customer=customers_pb2.Customer(name="Rui Barbosa", email=email, phone="+55 11 5555-0000"),
        request_id=str(uuid.uuid4()))
    first = stack.customers.CreateCustomer(request)
    changes = ({"name": "Rui Barbos"}, {"email": f"x{email}"}, {"email": email.upper()}, {"phone": ""},
               {"document": "123"})
    for change in changes:
        other = customers_pb2.CreateCustomerRequest()
        other.CopyFrom(request)
        for name, value in change.items():
            setattr(other.customer, name, value)
        with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED"):
            stack.customers.CreateCustomer(other)
    request.customer.name = " Rui Barbosa  "  # cleaned (trimmed) to the same name: the same request
    assert stack.customers.CreateCustomer(request) == first


def test_a_shoppers_sign_up_key_reused_with_another_body_is_refused_naming_the_key(stack):
    subject = unique("subject")
    shopper = bearer(stack.issuer.customer_token(subject, ttl=3600))
    sent = f"signup-{uuid.uuid4().hex[:8]}"
    body = customers_pb2.Customer(name="Ana", email=f"{unique('ana')}@example.com")
    first = stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=body),
                                           metadata=shopper + key(sent))
    assert stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=body),
                                          metadata=shopper + key(sent)) == first
    body.name = "Ana Maria"
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED") as caught:
        stack.customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=body),
                                       metadata=shopper + key(sent))
    assert f"Idempotency-Key '{sent}'" in caught.value.details()
    assert key_to_request_id(sent, f"customer\x1f{subject}") not in caught.value.details()


def test_a_customers_request_id_is_its_signers_own(stack):
    """As a purchase's is its buyer's: a key maps to a UUID v5 anyone can compute from the subject
    and the key, so were ids shared by all signers, one could use another's first (the owner's
    sign-up then refused) and learn from the refusal which keys were used."""
    taken = str(uuid.uuid4())
    made = []
    for signer in ("ana", "bia", None):  # two shoppers, then the staff (the stubs' own token)
        metadata = bearer(stack.issuer.customer_token(unique(signer), ttl=3600)) if signer else ()
        request = customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(name="Same Name", email=f"{unique('same')}@example.com"), request_id=taken)
        made.append(stack.customers.CreateCustomer(request, metadata=metadata))
        assert stack.customers.CreateCustomer(request, metadata=metadata) == made[-1]  # each signer's retry
    assert len({customer.id for customer in made}) == 3


def test_a_purchase_key_reused_names_the_key(stack):
    customer, disc = create_customer(stack), create_disc(stack, stock=5)
    sent = f"cart-{uuid.uuid4().hex[:8]}"

    def order(quantity):
        return orders_pb2.CreatePurchaseRequest(
            purchase=orders_pb2.Purchase(customer_id=customer.id, disc_id=disc.id, quantity=quantity))

    stack.orders.CreatePurchase(order(1), metadata=as_customer(stack, customer.id) + key(sent), timeout=10)
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED") as caught:
        stack.orders.CreatePurchase(order(2), metadata=as_customer(stack, customer.id) + key(sent), timeout=10)
    assert f"Idempotency-Key '{sent}'" in caught.value.details()
    assert key_to_request_id(sent, customer.id) not in caught.value.details()


# -- RestockDisc: once per key ------------------------------------------------------------------

def test_a_restock_sent_again_with_its_key_adds_the_units_once(stack):
    disc = create_disc(stack, stock=2)
    sent = f"delivery-{uuid.uuid4().hex[:8]}"
    first = restock(stack, disc.id, 5, key(sent))
    again = restock(stack, disc.id, 5, key(sent))
    assert first.stock == again.stock == 7 and stock_of(stack, disc.id) == 7
    assert restock(stack, disc.id, 5).stock == 12  # without a key, each call is a restock


def test_a_restock_key_reused_for_another_restock_is_refused(stack):
    disc, other = create_disc(stack, stock=2), create_disc(stack, stock=2)
    sent = f"delivery-{uuid.uuid4().hex[:8]}"
    restock(stack, disc.id, 5, key(sent))
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED") as caught:
        restock(stack, disc.id, 6, key(sent))
    assert f"Idempotency-Key '{sent}'" in caught.value.details()
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED"):
        restock(stack, other.id, 5, key(sent))
    assert (stock_of(stack, disc.id), stock_of(stack, other.id)) == (7, 2)


def test_concurrent_restocks_with_one_key_add_the_units_once(stack):
    disc = create_disc(stack, stock=0)
    sent = f"delivery-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(8)

    def attempt(_):
        barrier.wait(timeout=10)
        return restock(stack, disc.id, 3, key(sent))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(8)))
    assert all(answer.stock == 3 for answer in answers)
    assert stock_of(stack, disc.id) == 3


def test_a_restock_refused_for_room_leaves_its_key_for_the_retry(stack):
    disc = create_disc(stack, stock=MAX_STOCK)
    sent = f"delivery-{uuid.uuid4().hex[:8]}"
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="quantity", reason="STOCK_LIMIT_EXCEEDED"):
        restock(stack, disc.id, 4, key(sent))
    stack.catalog_as_orders.ReserveStock(catalog_pb2.ReserveStockRequest(
        reservation_id=str(uuid.uuid4()), disc_id=disc.id, quantity=10))
    assert restock(stack, disc.id, 4, key(sent)).stock == MAX_STOCK - 6
    assert restock(stack, disc.id, 4, key(sent)).stock == MAX_STOCK - 6


# -- methods idempotent without a key refuse one ------------------------------------------------

def test_deactivate_and_cancel_refuse_a_key_they_would_ignore(stack):
    customer, disc = create_customer(stack), create_disc(stack, stock=5)
    purchase = buy(stack, customer.id, disc.id, quantity=2)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="Idempotency-Key",
                       reason="IDEMPOTENCY_KEY_NOT_ACCEPTED") as caught:
        stack.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=purchase.id),
                                    metadata=as_customer(stack, customer.id) + key("cancel-1"), timeout=10)
    assert "CancelPurchase" in caught.value.details()
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="Idempotency-Key",
                       reason="IDEMPOTENCY_KEY_NOT_ACCEPTED"):
        stack.customers.DeactivateCustomer(customers_pb2.DeactivateCustomerRequest(id=customer.id),
                                           metadata=key("off-1"))
    # Refused before anything changed; without the key each answers the same when sent again.
    assert stock_of(stack, disc.id) == 3
    cancel = orders_pb2.CancelPurchaseRequest(id=purchase.id)
    cancelled = stack.orders.CancelPurchase(cancel, metadata=as_customer(stack, customer.id), timeout=10)
    assert stack.orders.CancelPurchase(cancel, metadata=as_customer(stack, customer.id), timeout=10) == cancelled
    assert stock_of(stack, disc.id) == 5
    deactivate = customers_pb2.DeactivateCustomerRequest(id=customer.id)
    assert stack.customers.DeactivateCustomer(deactivate) == stack.customers.DeactivateCustomer(deactivate)
