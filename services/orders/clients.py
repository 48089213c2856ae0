"""The orders service's clients of the customers and catalog services: protos stop here.

Every call has a deadline (the caller's remaining time, capped), and failures become the
matching ServiceError: an unreachable peer is UNAVAILABLE, a slow one DEADLINE_EXCEEDED, a refusal
that no repetition will change PeerRefused, never a blanket INTERNAL. All three RPCs used here are
idempotent, so the channel retries UNAVAILABLE.

Answers come back as the orders service's own small values (model.Buyer, model.Reservation),
checked against the contract here: an answer outside it is MalformedAnswer, the peer's failure
with its own reason, never an error about a field the buyer sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc

from ..runtime import rules, tls
from ..runtime.batching import Batcher
from ..runtime.deadlines import Deadline
from ..runtime.errors import DeadlineExceeded, InvalidArgument, NotFound, ServiceError, Unavailable
from ..runtime.money import to_cents
from ..runtime.outbound import Outbound
from .errors import MalformedAnswer, PeerRefused
from .faults import crash_point
from .model import Buyer, Reservation, ReservationOutcome

log = logging.getLogger(__name__)


def _retrying_channel(address: str, service: str, peer: str, tls_files: tls.TlsFiles | None) -> grpc.aio.Channel:
    # round_robin: a connection to every address the target resolves to (`ipv4:host:a,host:b`, or
    # `dns:///catalog:50052` naming every replica), calls spread over the ready ones; the default,
    # pick_first, would send every call to one replica.
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{"service": service}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
    # Over mutual TLS, as the orders service (its certificate): the catalog reserves stock for it alone.
    # Each replica's certificate must name the peer (DNS SAN `catalog`, beside its SPIFFE ID), not
    # merely the address dialled: a target listing several addresses has no host name to check, and
    # on loopback every service's certificate holds 127.0.0.1.
    return tls.aio_channel(
        address,
        tls_files,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(config)),
            ("grpc.ssl_target_name_override", peer),
        ],
        interceptors=[Outbound()],  # client metrics and trace context, on every call to the peer
    )


# Answers that say the request itself is wrong: asking again, now or later, gets the same answer.
_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


_CODES = {code.value[0]: code for code in grpc.StatusCode}
_ACTIVITY = {customers_pb2.Customer.ACTIVE: True, customers_pb2.Customer.DEACTIVATED: False}
_OUTCOMES = {
    catalog_pb2.Reservation.GRANTED: ReservationOutcome.GRANTED,
    catalog_pb2.Reservation.REJECTED: ReservationOutcome.REJECTED,
    catalog_pb2.Reservation.RELEASED: ReservationOutcome.RELEASED,
}


def buyer_from_reply(customer_id: str, reply: customers_pb2.Customer) -> Buyer:
    if reply.id != customer_id:
        raise MalformedAnswer("customers", f"customer: asked for {customer_id!r}, got {reply.id!r}")
    active = _ACTIVITY.get(reply.state)
    if active is None:
        raise MalformedAnswer("customers", f"customer state ({reply.state})")
    return Buyer(reply.id, active, reply.subject or None)


def reservation_from_reply(
    reservation_id: str, disc_id: str, quantity: int, reply: catalog_pb2.Reservation
) -> Reservation:
    """The catalog's reservation, when it is the one asked for; a price in whole cents."""
    if (reply.id, reply.disc_id, reply.quantity) != (reservation_id, disc_id, quantity):
        raise MalformedAnswer(
            "catalog",
            f"reservation: asked for {quantity} of disc {disc_id!r} under "
            f"{reservation_id!r}, got {reply.quantity} of {reply.disc_id!r} "
            f"under {reply.id!r}",
        )
    outcome = _OUTCOMES.get(reply.state)
    if outcome is None:
        raise MalformedAnswer("catalog", f"reservation state ({reply.state})")
    try:
        unit_price_cents, currency = to_cents("unit_price", reply.unit_price)
    except InvalidArgument as wrong:
        raise MalformedAnswer("catalog", f"price ({wrong.description})") from None
    return Reservation(outcome, unit_price_cents, currency)


def _translate(error: grpc.RpcError, peer: str, resource: tuple[str, str] | None = None) -> ServiceError:
    return _status_error(error.code(), error.details() or "", peer, resource)


def _status_error(
    code: grpc.StatusCode, details: str, peer: str, resource: tuple[str, str] | None = None
) -> ServiceError:
    if code == grpc.StatusCode.NOT_FOUND and resource:
        return NotFound(*resource)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(f"the {peer} service is unavailable, retry later", f"{peer.upper()}_UNAVAILABLE")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"the {peer} service did not answer in time", f"{peer.upper()}_TIMEOUT")
    if code in _REFUSALS:
        return PeerRefused(f"the {peer} service refused it ({code.name}): {details}", f"{peer.upper()}_REFUSED")
    log.error("%s service answered %s: %s", peer, code.name, details)
    return ServiceError(f"the {peer} service failed ({code.name})", f"{peer.upper()}_FAILED")


@dataclass(frozen=True)
class _Lookup:
    """A buyer waiting for its GetCustomer / BatchGetCustomers call."""

    customer_id: str
    token: str  # the buyer's own bearer token: the customers service decides with it
    deadline: Deadline


@dataclass(frozen=True)
class _Asked:
    """A reservation waiting for its ReserveStock / ReserveStocks call."""

    reservation_id: str
    disc_id: str
    quantity: int
    deadline: Deadline

    def request(self) -> catalog_pb2.ReserveStockRequest:
        return catalog_pb2.ReserveStockRequest(
            reservation_id=self.reservation_id, disc_id=self.disc_id, quantity=self.quantity
        )


class _Item(Protocol):
    @property
    def deadline(self) -> Deadline: ...


I = TypeVar("I", bound=_Item)
V = TypeVar("V")


class _BatchedMethod(Generic[I, V]):
    """A peer's method for one item (`one`), and its batch form (`many`, a repeated oneof of the
    answer or a google.rpc.Status, of at most `max_items`: what its request's repeated field
    states in the proto) for the items that queue while a call is in flight (see
    runtime/batching.py). Each item gets what the method for one would have given it: the value,
    or the error its status translates to."""

    def __init__(
        self,
        name: str,
        peer: str,
        one: Callable[[I], Awaitable[V]],
        many: Callable[[list[I], float], Awaitable[Sequence[Any]]],
        answer: Callable[[I, Any], V],
        resource: Callable[[I], tuple[str, str]],
        max_items: int,
    ):
        self._name, self._peer = name, peer
        self._one, self._many, self._answer, self._resource = one, many, answer, resource
        self._batches_served = True
        self._batcher: Batcher[I, V] = Batcher(name, self._flush, max_items=max_items)

    async def __call__(self, item: I) -> V:
        return await self._batcher.submit(item)

    async def _flush(self, batch: list[I]) -> Sequence[V | BaseException]:
        if len(batch) == 1 or not self._batches_served:
            return await asyncio.gather(*(self._one(item) for item in batch), return_exceptions=True)
        try:
            results = await self._many(batch, max(item.deadline.left() for item in batch))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                # A peer older than the batch method (a rolling upgrade): one call each, from now on.
                log.warning(
                    "the %s service does not serve %s in batches: calling it once per item", self._peer, self._name
                )
                self._batches_served = False
                return await self._flush(batch)
            return [_translate(error, self._peer) for _ in batch]
        if len(results) != len(batch):
            wrong = MalformedAnswer(self._peer, f"{len(results)} answers to a batch of {len(batch)}")
            return [wrong] * len(batch)
        return [self._result(item, result) for item, result in zip(batch, results, strict=True)]

    def _result(self, item: I, result: Any) -> V | ServiceError:
        kind = result.WhichOneof("result")
        if kind == "error" and result.error.code != grpc.StatusCode.OK.value[0]:
            code = _CODES.get(result.error.code, grpc.StatusCode.UNKNOWN)
            return _status_error(code, result.error.message, self._peer, self._resource(item))
        if kind is None or kind == "error":
            return MalformedAnswer(self._peer, f"{self._name}: an answer with neither a value nor an error")
        try:
            return self._answer(item, getattr(result, kind))
        except MalformedAnswer as wrong:
            return wrong


class CustomersClient:
    """Create inside the event loop that will use it (grpc.aio channels belong to a loop)."""

    def __init__(self, address: str, tls_files: tls.TlsFiles | None = None):
        self._channel = _retrying_channel(
            address, customers_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name, "customers", tls_files
        )
        self._stub = customers_pb2_grpc.CustomerServiceStub(self._channel)
        self._lookups: _BatchedMethod[_Lookup, Buyer] = _BatchedMethod(
            "get_customer",
            "customers",
            self._get_one,
            self._get_many,
            lambda lookup, reply: buyer_from_reply(lookup.customer_id, reply),
            lambda lookup: ("customer", lookup.customer_id),
            max_items=rules.of(customers_pb2.BatchGetCustomersRequest, "lookups").max_items,
        )

    async def get_customer(self, customer_id: str, timeout: float, token: str) -> Buyer:
        """The customer, as the caller whose bearer token `token` is may see it. Lookups asked
        while an earlier call is in flight go together as one BatchGetCustomers call."""
        return await self._lookups(_Lookup(customer_id, token, Deadline(timeout)))

    async def _get_one(self, lookup: _Lookup) -> Buyer:
        try:
            reply = await self._stub.GetCustomer(
                customers_pb2.GetCustomerRequest(id=lookup.customer_id),
                timeout=lookup.deadline.left(),
                metadata=(("authorization", f"Bearer {lookup.token}"),),
            )
        except grpc.RpcError as error:
            raise _translate(error, "customers", ("customer", lookup.customer_id)) from None
        return buyer_from_reply(lookup.customer_id, reply)

    async def _get_many(self, lookups: list[_Lookup], timeout: float) -> Sequence[Any]:
        request = customers_pb2.BatchGetCustomersRequest(
            lookups=[customers_pb2.CustomerLookup(id=one.customer_id, bearer_token=one.token) for one in lookups]
        )
        return (await self._stub.BatchGetCustomers(request, timeout=timeout)).results

    async def close(self) -> None:
        await self._channel.close()


class CatalogClient:
    def __init__(self, address: str, tls_files: tls.TlsFiles | None = None):
        self._channel = _retrying_channel(
            address, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name, "catalog", tls_files
        )
        self._stub = catalog_pb2_grpc.CatalogServiceStub(self._channel)
        self._reservations: _BatchedMethod[_Asked, Reservation] = _BatchedMethod(
            "reserve_stock",
            "catalog",
            self._reserve_one,
            self._reserve_many,
            lambda asked, reply: reservation_from_reply(asked.reservation_id, asked.disc_id, asked.quantity, reply),
            lambda asked: ("disc", asked.disc_id),
            max_items=rules.of(catalog_pb2.ReserveStocksRequest, "reservations").max_items,
        )

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int, timeout: float) -> Reservation:
        """The reservation, made once per id. Reservations asked while an earlier call is in
        flight go together as one ReserveStocks call (one commit in the catalog)."""
        return await self._reservations(_Asked(reservation_id, disc_id, quantity, Deadline(timeout)))

    async def _reserve_one(self, asked: _Asked) -> Reservation:
        try:
            reply = await self._stub.ReserveStock(asked.request(), timeout=asked.deadline.left())
        except grpc.RpcError as error:
            raise _translate(error, "catalog", ("disc", asked.disc_id)) from None
        return reservation_from_reply(asked.reservation_id, asked.disc_id, asked.quantity, reply)

    async def _reserve_many(self, batch: list[_Asked], timeout: float) -> Sequence[Any]:
        request = catalog_pb2.ReserveStocksRequest(reservations=[asked.request() for asked in batch])
        reply = await self._stub.ReserveStocks(request, timeout=timeout)
        crash_point("after_batch_reserve")
        return reply.results

    async def release_stock(self, reservation_id: str, timeout: float) -> None:
        """Gives a granted reservation's units back (once, however often it is called)."""
        request = catalog_pb2.ReleaseStockRequest(reservation_id=reservation_id)
        try:
            await self._stub.ReleaseStock(request, timeout=timeout)
        except grpc.RpcError as error:
            raise _translate(error, "catalog", ("reservation", reservation_id)) from None

    async def close(self) -> None:
        await self._channel.close()
