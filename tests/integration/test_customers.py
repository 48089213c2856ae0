import uuid
from datetime import datetime, timezone

import grpc
from recordstore.customers.v1 import customers_pb2 as pb

from tests.support import create_customer, every_page, raises_status, unique

Customer = pb.Customer


def list_all(stack, **request):
    return every_page(stack.customers.ListCustomers, pb.ListCustomersRequest, "customers", **request)


def test_create_and_get_a_customer(stack):
    created = create_customer(stack, name="Maria Lima", document="123.456.789-00", phone="+55 11 5555-0000")
    assert uuid.UUID(created.id)
    assert created.state == Customer.ACTIVE
    assert not created.HasField("deactivate_time")
    age = datetime.now(timezone.utc) - created.create_time.ToDatetime(tzinfo=timezone.utc)
    assert abs(age.total_seconds()) < 60
    fetched = stack.customers.GetCustomer(pb.GetCustomerRequest(id=created.id))
    assert fetched == created
    assert (fetched.name, fetched.document, fetched.phone) == ("Maria Lima", "123.456.789-00", "+55 11 5555-0000")


def test_email_is_unique_whatever_its_case(stack):
    email = f"{unique('dup')}@example.com"
    create_customer(stack, email=email)
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="EMAIL_TAKEN"):
        create_customer(stack, email=email.upper())


def test_a_repeated_request_id_returns_the_first_customer(stack):
    request = pb.CreateCustomerRequest(customer=Customer(name="Rui", email=f"{unique('rui')}@example.com"),
                                       request_id=str(uuid.uuid4()))
    first = stack.customers.CreateCustomer(request)
    again = stack.customers.CreateCustomer(request)
    assert again == first


def test_create_names_the_invalid_field(stack):
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="customer.name"):
        create_customer(stack, name="  ")
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="customer.email"):
        create_customer(stack, email="not-an-email")
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="request_id"):
        stack.customers.CreateCustomer(pb.CreateCustomerRequest(
            customer=Customer(name="X", email=f"{unique('x')}@example.com"), request_id="not-a-uuid"))


def test_get_unknown_or_malformed_ids(stack):
    missing = str(uuid.uuid4())
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="CUSTOMER_NOT_FOUND") as caught:
        stack.customers.GetCustomer(pb.GetCustomerRequest(id=missing))
    assert missing in caught.value.details()
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="id"):
        stack.customers.GetCustomer(pb.GetCustomerRequest(id="42"))


def test_deactivation_keeps_the_row_and_is_idempotent(stack):
    customer = create_customer(stack)
    first = stack.customers.DeactivateCustomer(pb.DeactivateCustomerRequest(id=customer.id))
    assert first.state == Customer.DEACTIVATED
    assert first.HasField("deactivate_time")
    again = stack.customers.DeactivateCustomer(pb.DeactivateCustomerRequest(id=customer.id))
    assert again == first
    assert stack.customers.GetCustomer(pb.GetCustomerRequest(id=customer.id)) == first
    with raises_status(grpc.StatusCode.NOT_FOUND):
        stack.customers.DeactivateCustomer(pb.DeactivateCustomerRequest(id=str(uuid.uuid4())))


def test_listing_hides_deactivated_customers_unless_asked(stack):
    active, gone = create_customer(stack), create_customer(stack)
    stack.customers.DeactivateCustomer(pb.DeactivateCustomerRequest(id=gone.id))
    default_ids = [c.id for c in list_all(stack, page_size=200)]
    assert active.id in default_ids and gone.id not in default_ids
    every_ids = [c.id for c in list_all(stack, page_size=200, show_deactivated=True)]
    assert active.id in every_ids and gone.id in every_ids


def test_pagination_visits_every_customer_once_in_creation_order(stack):
    mine = [create_customer(stack).id for _ in range(7)]
    seen = [c.id for c in list_all(stack, page_size=3)]
    assert len(seen) == len(set(seen))
    positions = [seen.index(i) for i in mine]
    assert positions == sorted(positions)


def test_page_size_rules(stack):
    create_customer(stack)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="page_size"):
        stack.customers.ListCustomers(pb.ListCustomersRequest(page_size=-1))
    huge = stack.customers.ListCustomers(pb.ListCustomersRequest(page_size=100_000))
    assert len(huge.customers) <= 1000


def test_a_page_token_only_continues_its_own_listing(stack):
    create_customer(stack), create_customer(stack)
    page = stack.customers.ListCustomers(pb.ListCustomersRequest(page_size=1))
    assert page.next_page_token
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        stack.customers.ListCustomers(pb.ListCustomersRequest(page_size=1, page_token=page.next_page_token,
                                                              show_deactivated=True))
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        stack.customers.ListCustomers(pb.ListCustomersRequest(page_token="garbage!"))
