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
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc

from ..runtime import tls
from ..runtime.batching import Batcher
from ..runtime.errors import DeadlineExceeded, InvalidArgument, NotFound, ServiceError, Unavailable
from ..runtime.money import to_cents
from ..runtime.outbound import Outbound
from .errors import MalformedAnswer, PeerRefused
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


# Reservations in one ReserveStocks call, at most (as the catalog takes them: catalog.proto).
MAX_BATCH = 256
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
    return Buyer(reply.id, active)


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


class CustomersClient:
    """Create inside the event loop that will use it (grpc.aio channels belong to a loop)."""

    def __init__(self, address: str, tls_files: tls.TlsFiles | None = None):
        self._channel = _retrying_channel(
            address, customers_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name, "customers", tls_files
        )
        self._stub = customers_pb2_grpc.CustomerServiceStub(self._channel)

    async def get_customer(self, customer_id: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()) -> Buyer:
        """The customer, as the caller whose token `metadata` carries may see it."""
        try:
            reply = await self._stub.GetCustomer(
                customers_pb2.GetCustomerRequest(id=customer_id), timeout=timeout, metadata=metadata
            )
        except grpc.RpcError as error:
            raise _translate(error, "customers", ("customer", customer_id)) from None
        return buyer_from_reply(customer_id, reply)

    async def close(self) -> None:
        await self._channel.close()


@dataclass(frozen=True)
class _Asked:
    """A reservation waiting for its ReserveStock(s) call, with its caller's deadline."""

    reservation_id: str
    disc_id: str
    quantity: int
    deadline: float  # time.monotonic()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def request(self) -> catalog_pb2.ReserveStockRequest:
        return catalog_pb2.ReserveStockRequest(
            reservation_id=self.reservation_id, disc_id=self.disc_id, quantity=self.quantity
        )


def _reservation_result(asked: _Asked, result: catalog_pb2.ReservationResult) -> Reservation | ServiceError:
    """One item of a ReserveStocks answer: as ReserveStock's reply or status would have been."""
    if result.WhichOneof("result") == "reservation":
        try:
            return reservation_from_reply(asked.reservation_id, asked.disc_id, asked.quantity, result.reservation)
        except MalformedAnswer as wrong:
            return wrong
    if result.WhichOneof("result") == "error" and result.error.code != grpc.StatusCode.OK.value[0]:
        code = _CODES.get(result.error.code, grpc.StatusCode.UNKNOWN)
        return _status_error(code, result.error.message, "catalog", ("disc", asked.disc_id))
    return MalformedAnswer("catalog", f"reservation {asked.reservation_id!r}: neither a reservation nor an error")


class CatalogClient:
    def __init__(self, address: str, tls_files: tls.TlsFiles | None = None):
        self._channel = _retrying_channel(
            address, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name, "catalog", tls_files
        )
        self._stub = catalog_pb2_grpc.CatalogServiceStub(self._channel)
        self._reservations = Batcher("reserve_stock", self._reserve, max_items=MAX_BATCH)
        self._batches_served = True

    async def reserve_stock(self, reservation_id: str, disc_id: str, quantity: int, timeout: float) -> Reservation:
        """The reservation, made once per id. Those asked while an earlier call is in flight go
        together as one ReserveStocks call (one commit in the catalog): see runtime/batching.py."""
        asked = _Asked(reservation_id, disc_id, quantity, time.monotonic() + timeout)
        return await self._reservations.submit(asked)

    async def _reserve(self, batch: list[_Asked]) -> Sequence[Reservation | BaseException]:
        if len(batch) == 1 or not self._batches_served:
            return await asyncio.gather(*(self._reserve_one(asked) for asked in batch), return_exceptions=True)
        request = catalog_pb2.ReserveStocksRequest(reservations=[asked.request() for asked in batch])
        try:
            reply = await self._stub.ReserveStocks(request, timeout=max(asked.remaining() for asked in batch))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                # A catalog older than ReserveStocks (a rolling upgrade): one call each, from now on.
                log.warning("the catalog does not serve ReserveStocks: reserving one by one")
                self._batches_served = False
                return await self._reserve(batch)
            return [_translate(error, "catalog") for _ in batch]
        if len(reply.results) != len(batch):
            wrong = MalformedAnswer("catalog", f"{len(reply.results)} results for {len(batch)} reservations")
            return [wrong] * len(batch)
        return [_reservation_result(asked, result) for asked, result in zip(batch, reply.results, strict=True)]

    async def _reserve_one(self, asked: _Asked) -> Reservation:
        try:
            reply = await self._stub.ReserveStock(asked.request(), timeout=asked.remaining())
        except grpc.RpcError as error:
            raise _translate(error, "catalog", ("disc", asked.disc_id)) from None
        return reservation_from_reply(asked.reservation_id, asked.disc_id, asked.quantity, reply)

    async def release_stock(self, reservation_id: str, timeout: float) -> None:
        """Gives a granted reservation's units back (once, however often it is called)."""
        request = catalog_pb2.ReleaseStockRequest(reservation_id=reservation_id)
        try:
            await self._stub.ReleaseStock(request, timeout=timeout)
        except grpc.RpcError as error:
            raise _translate(error, "catalog", ("reservation", reservation_id)) from None

    async def close(self) -> None:
        await self._channel.close()
