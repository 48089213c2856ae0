"""OrderService over gRPC: proto in, one use case, proto out. No SQL here."""

from __future__ import annotations

from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from ..runtime import idempotency, validation
from ..runtime.auth import Authenticator, current_caller
from ..runtime.guard import guarded
from ..runtime.deadlines import Deadline
from ..runtime.errors import InvalidArgument
from ..runtime.money import from_cents
from ..runtime.pagination import page_size
from ..runtime.timestamps import from_timestamp, to_timestamp
from .access import ACCESS, owner_filter
from .model import Purchase, PurchaseFilter, PurchaseOrder
from .usecases import Purchases

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name
MAX_QUANTITY = 1000
_STATES = {
    "pending": orders_pb2.Purchase.PENDING,
    "confirmed": orders_pb2.Purchase.CONFIRMED,
    "rejected": orders_pb2.Purchase.REJECTED,
    "cancelling": orders_pb2.Purchase.CANCELLING,
    "cancelled": orders_pb2.Purchase.CANCELLED,
    # Failing: the failure is decided but its reservation is still being released; like a pending
    # purchase, a retry (or the recovery loop) finishes it.
    "failing": orders_pb2.Purchase.PENDING,
    "failed": orders_pb2.Purchase.FAILED,
}


def purchase_to_proto(purchase: Purchase) -> orders_pb2.Purchase:
    message = orders_pb2.Purchase(
        id=purchase.id,
        customer_id=purchase.customer_id,
        disc_id=purchase.disc_id,
        quantity=purchase.quantity,
        effective=purchase.effective,
        state=_STATES[purchase.state],
        request_id=purchase.request_id,
        create_time=to_timestamp(purchase.create_time),
        update_time=to_timestamp(purchase.update_time),
        cancel_time=to_timestamp(purchase.cancel_time),
        failure_reason=purchase.failure_reason or "",
    )
    if purchase.unit_price_cents is not None:
        message.unit_price.CopyFrom(from_cents(purchase.unit_price_cents, purchase.currency))
        message.total_price.CopyFrom(from_cents(purchase.total_cents, purchase.currency))
    return message


def order_from_proto(purchase: orders_pb2.Purchase) -> PurchaseOrder:
    quantity = validation.require_positive("purchase.quantity", purchase.quantity)
    if quantity > MAX_QUANTITY:
        raise InvalidArgument("purchase.quantity", f"must be at most {MAX_QUANTITY}, got {quantity}")
    return PurchaseOrder(
        customer_id=validation.require_id("purchase.customer_id", purchase.customer_id),
        disc_id=validation.require_id("purchase.disc_id", purchase.disc_id),
        quantity=quantity,
    )


def filter_from_proto(request: orders_pb2.ListPurchasesRequest, owner: str | None) -> PurchaseFilter:
    start = from_timestamp(request.start_time, "start_time") if request.HasField("start_time") else None
    end = from_timestamp(request.end_time, "end_time") if request.HasField("end_time") else None
    if start and end and end <= start:
        raise InvalidArgument("end_time", "must be after start_time")
    return PurchaseFilter(customer_id=validation.optional_id("customer_id", request.customer_id),
                          customer_subject=owner, start_time=start, end_time=end)


@guarded(SERVICE_NAME, ACCESS)
class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, purchases: Purchases, request_budget: float, authenticator: Authenticator):
        self._purchases = purchases
        self._budget = request_budget
        self.authenticator = authenticator

    async def CreatePurchase(self, request, context):
        order = order_from_proto(request.purchase)
        # The buyer scopes a header key: two customers may pick the same one.
        request_id = idempotency.request_id(
            context, {"request_id": request.request_id, "purchase.request_id": request.purchase.request_id},
            scope=order.customer_id)
        deadline = Deadline.from_context(context, self._budget)
        return purchase_to_proto(await self._purchases.create_purchase(order, request_id, deadline, current_caller()))

    async def GetPurchase(self, request, context):
        purchase_id = validation.require_id("id", request.id)
        return purchase_to_proto(await self._purchases.get_purchase(purchase_id, current_caller()))

    async def ListPurchases(self, request, context):
        where = filter_from_proto(request, owner_filter(current_caller()))
        found, token = await self._purchases.list_purchases(where, page_size(request.page_size), request.page_token)
        return orders_pb2.ListPurchasesResponse(purchases=[purchase_to_proto(p) for p in found],
                                                next_page_token=token)

    async def CancelPurchase(self, request, context):
        purchase_id = validation.require_id("id", request.id)
        return purchase_to_proto(await self._purchases.cancel_purchase(purchase_id, current_caller()))
