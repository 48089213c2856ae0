"""CustomerService over gRPC: proto in, one use case, proto out. No SQL here."""

from __future__ import annotations

from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc

from ..runtime import idempotency, rules
from ..runtime.auth import Access, Caller, current_caller
from ..runtime.batching import answer_each, results_of
from ..runtime.feed import Event, Feed, Heartbeat, event_message, record_of
from ..runtime.timestamps import to_timestamp
from .access import LOOKUP_AS
from .model import Customer, CustomerState, NewCustomer
from .usecases import Customers

SERVICE = customers_pb2.DESCRIPTOR.services_by_name["CustomerService"]
SERVICE_NAME = SERVICE.full_name
# The one mapping of a customer's states to the API's.
STATES_TO_PROTO = {
    CustomerState.ACTIVE: customers_pb2.Customer.ACTIVE,
    CustomerState.DEACTIVATED: customers_pb2.Customer.DEACTIVATED,
}
# The one mapping of the feed's event types (customers.events.type, migration 0004) to the API's.
EVENT_TYPES_TO_PROTO = {
    "customer.created": customers_pb2.CustomerEvent.CREATED,
    "customer.deactivated": customers_pb2.CustomerEvent.DEACTIVATED,
}


def customer_to_proto(customer: Customer) -> customers_pb2.Customer:
    return customers_pb2.Customer(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        document=customer.document or "",
        phone=customer.phone or "",
        state=STATES_TO_PROTO[customer.state],
        create_time=to_timestamp(customer.create_time),
        deactivate_time=to_timestamp(customer.deactivate_time),
        subject=customer.subject or "",
    )


def event_to_proto(item: Event | Heartbeat) -> customers_pb2.CustomerEvent:
    return event_message(
        customers_pb2.CustomerEvent,
        EVENT_TYPES_TO_PROTO,
        item,
        lambda payload: {"customer": customer_to_proto(record_of(Customer, payload["customer"]))},
    )


def new_customer_from_proto(customer: customers_pb2.Customer) -> NewCustomer:
    """The customer as the rules in customers.proto let it in (see runtime/rules.py)."""
    fields = rules.checked(customer, "customer")
    return NewCustomer(name=fields["name"], email=fields["email"], document=fields["document"], phone=fields["phone"])


class CustomerServicer(customers_pb2_grpc.CustomerServiceServicer):
    def __init__(self, customers: Customers, access: Access, feed: Feed):
        self._customers = customers
        self._access = access  # the lookups of BatchGetCustomers carry their buyers' tokens
        self._feed = feed

    async def CreateCustomer(self, request, context):
        customer = new_customer_from_proto(request.customer)
        caller = current_caller()
        # A header key names a request of its sender: two accounts may pick the same key.
        scope = "customer" if caller.is_staff else f"customer\x1f{caller.subject}"
        request_id = idempotency.request_id(context, {"request_id": request.request_id}, scope=scope)
        created = await self._customers.create_customer(customer, request_id, caller)
        return customer_to_proto(created)

    async def GetCustomer(self, request, context):
        customer_id = rules.checked(request)["id"]
        return customer_to_proto(await self._customers.get_customer(customer_id, current_caller()))

    async def BatchGetCustomers(self, request, context):
        async def judged(index: int, lookup) -> tuple[str, Caller]:
            fields = rules.checked(lookup, f"lookups[{index}]")  # a lookup refused is refused alone
            return fields["id"], await self._access.caller_of(fields["bearer_token"], LOOKUP_AS)

        answers = await answer_each(rules.checked(request)["lookups"], judged, self._customers.get_customers)
        return customers_pb2.BatchGetCustomersResponse(
            results=results_of(answers, customers_pb2.CustomerResult, "customer", customer_to_proto)
        )

    async def ListCustomers(self, request, context):
        customers, token = await self._customers.list_customers(
            request.show_deactivated, rules.checked(request)["page_size"], request.page_token
        )
        return customers_pb2.ListCustomersResponse(
            customers=[customer_to_proto(c) for c in customers], next_page_token=token
        )

    async def DeactivateCustomer(self, request, context):
        idempotency.refuse_key(context, "DeactivateCustomer")  # deactivating again changes nothing
        customer_id = rules.checked(request)["id"]
        return customer_to_proto(await self._customers.deactivate_customer(customer_id, current_caller()))

    async def WatchCustomerEvents(self, request, context):
        after = rules.checked(request)["after_cursor"] or ""
        async for item in self._feed.watch(after, current_caller()):
            yield event_to_proto(item)
