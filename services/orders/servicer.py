"""OrderService over gRPC: proto in, one use case, proto out. No SQL here."""

from __future__ import annotations

from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from ..runtime import idempotency, rules
from ..runtime.auth import current_caller
from ..runtime.deadlines import Deadline
from ..runtime.feed import Event, Feed, Heartbeat, event_message, record_of
from ..runtime.money import from_cents
from ..runtime.timestamps import to_timestamp
from .model import Purchase, PurchaseFilter, PurchaseOrder, PurchaseState
from .usecases import Purchases

SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrderService"]
SERVICE_NAME = SERVICE.full_name
# Stated in orders.proto, with the rest of a purchase's rules.
MAX_QUANTITY = rules.of(orders_pb2.Purchase, "quantity").maximum
# The one mapping of a purchase's states to the API's.
STATES_TO_PROTO = {
    PurchaseState.PENDING: orders_pb2.Purchase.PENDING,
    PurchaseState.CONFIRMED: orders_pb2.Purchase.CONFIRMED,
    PurchaseState.REJECTED: orders_pb2.Purchase.REJECTED,
    PurchaseState.CANCELLING: orders_pb2.Purchase.CANCELLING,
    PurchaseState.CANCELLED: orders_pb2.Purchase.CANCELLED,
    # Failing: the failure is decided but its reservation is still being released; like a pending
    # purchase, a retry (or the recovery loop) finishes it.
    PurchaseState.FAILING: orders_pb2.Purchase.PENDING,
    PurchaseState.FAILED: orders_pb2.Purchase.FAILED,
}
# The one mapping of the feed's event types (orders.events.type, migration 0007) to the API's.
EVENT_TYPES_TO_PROTO = {
    "purchase.confirmed": orders_pb2.PurchaseEvent.CONFIRMED,
    "purchase.rejected": orders_pb2.PurchaseEvent.REJECTED,
    "purchase.failed": orders_pb2.PurchaseEvent.FAILED,
    "purchase.cancelled": orders_pb2.PurchaseEvent.CANCELLED,
}


def purchase_to_proto(purchase: Purchase) -> orders_pb2.Purchase:
    message = orders_pb2.Purchase(
        id=purchase.id,
        customer_id=purchase.customer_id,
        disc_id=purchase.disc_id,
        quantity=purchase.quantity,
        effective=purchase.effective,
        state=STATES_TO_PROTO[purchase.state],
        request_id=purchase.request_id,
        create_time=to_timestamp(purchase.create_time),
        update_time=to_timestamp(purchase.update_time),
        cancel_time=to_timestamp(purchase.cancel_time),
        failure_reason=purchase.failure_reason or "",
        recorded_by=purchase.recorded_by or "",
    )
    # Priced together when settled (the table's CHECKs), and only then.
    if purchase.unit_price_cents is not None and purchase.total_cents is not None and purchase.currency is not None:
        message.unit_price.CopyFrom(from_cents(purchase.unit_price_cents, purchase.currency))
        message.total_price.CopyFrom(from_cents(purchase.total_cents, purchase.currency))
    return message


def event_to_proto(item: Event | Heartbeat) -> orders_pb2.PurchaseEvent:
    return event_message(
        orders_pb2.PurchaseEvent,
        EVENT_TYPES_TO_PROTO,
        item,
        lambda payload: {"purchase": purchase_to_proto(record_of(Purchase, payload["purchase"]))},
    )


def order_from_proto(purchase: orders_pb2.Purchase) -> PurchaseOrder:
    """The order as the rules in orders.proto let it in (see runtime/rules.py)."""
    fields = rules.checked(purchase, "purchase")
    return PurchaseOrder(customer_id=fields["customer_id"], disc_id=fields["disc_id"], quantity=fields["quantity"])


def filter_from_proto(fields: dict, owner: str | None) -> PurchaseFilter:
    return PurchaseFilter(
        customer_id=fields["customer_id"],
        customer_subject=owner,
        start_time=fields["start_time"],
        end_time=fields["end_time"],
    )


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, purchases: Purchases, feed: Feed):
        self._purchases = purchases
        self._feed = feed

    async def CreatePurchase(self, request, context):
        order = order_from_proto(request.purchase)
        # The customer scopes a header key: two customers may pick the same one (and its recorder
        # scopes the request id it maps to: see migration 0006).
        request_id = idempotency.request_id(
            context,
            {"request_id": request.request_id, "purchase.request_id": request.purchase.request_id},
            scope=order.customer_id,
        )
        deadline = Deadline.from_context(context, self._purchases.budget)
        return purchase_to_proto(await self._purchases.create_purchase(order, request_id, deadline, current_caller()))

    async def GetPurchase(self, request, context):
        purchase_id = rules.checked(request)["id"]
        return purchase_to_proto(await self._purchases.get_purchase(purchase_id, current_caller()))

    async def ListPurchases(self, request, context):
        fields = rules.checked(request)
        where = filter_from_proto(fields, current_caller().own_subject)
        found, token = await self._purchases.list_purchases(where, fields["page_size"], request.page_token)
        return orders_pb2.ListPurchasesResponse(purchases=[purchase_to_proto(p) for p in found], next_page_token=token)

    async def CancelPurchase(self, request, context):
        idempotency.refuse_key(context, "CancelPurchase")  # cancelling again answers the cancelled purchase
        purchase_id = rules.checked(request)["id"]
        return purchase_to_proto(await self._purchases.cancel_purchase(purchase_id, current_caller()))

    async def WatchPurchaseEvents(self, request, context):
        after = rules.checked(request)["after_cursor"] or ""
        async for item in self._feed.watch(after, current_caller()):
            yield event_to_proto(item)
