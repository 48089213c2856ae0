"""The feeds under the stress tool, with the orders and then the catalog service killed with
SIGKILL mid-load: readers reconnecting from their last cursor get every committed change's event
exactly once (deduplicated by cursor) and none of a change that rolled back; each purchase's last
event is its final state; each disc's stock events, in order, add up to its stock."""

from __future__ import annotations

import threading
import time

import grpc
import psycopg2
import pytest
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.invariant import check
from devstack.loopback import free_address
from devstack.postgres import start_embedded, stop_embedded
from devstack.processes import wait_serving
from devstack.stack import ServiceStack
from devstack.stress import Settings, run
from tests.support import channel

pytestmark = pytest.mark.slow
FAST_RECOVERY = {"RECOVERY_INTERVAL_SECONDS": "0.2", "RECOVERY_GRACE_SECONDS": "0.5"}
FINAL = {"CONFIRMED": "confirmed", "REJECTED": "rejected", "FAILED": "failed", "CANCELLED": "cancelled"}
HISTORIES = {("CONFIRMED",), ("REJECTED",), ("FAILED",), ("CONFIRMED", "CANCELLED")}


class Reader:
    """A feed's reader that reconnects from its last cursor whatever ends its stream (a killed
    service's UNAVAILABLE, a connection lost), as docs/feed.md's consumer does."""

    def __init__(self, address: str, token: str, watch):
        self.address, self.token, self.watch = address, token, watch
        self.received: dict[int, object] = {}  # deduplicated by cursor
        self.cursor, self.connections = "", 0
        self.out_of_order = []
        self._stop = threading.Event()
        self._call = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.connections += 1
            try:
                with channel(self.address, self.token) as opened:
                    self._call = self.watch(opened, self.cursor)
                    for event in self._call:
                        if int(event.cursor) <= int(self.cursor or 0):
                            self.out_of_order.append(event.cursor)
                        self.cursor = event.cursor
                        if event.type != event.HEARTBEAT:
                            self.received.setdefault(int(event.cursor), event)
            except grpc.RpcError as error:
                if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    raise
                time.sleep(0.1)

    def caught_up(self, end: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while int(self.cursor or 0) < end:
            assert time.monotonic() < deadline, f"the reader got to {self.cursor} of {end}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(10)


def watch_purchases(opened, cursor):
    return orders_pb2_grpc.OrderServiceStub(opened).WatchPurchaseEvents(
        orders_pb2.WatchPurchaseEventsRequest(after_cursor=cursor))


def watch_discs(opened, cursor):
    return catalog_pb2_grpc.CatalogServiceStub(opened).WatchDiscEvents(
        catalog_pb2.WatchDiscEventsRequest(after_cursor=cursor))


@pytest.fixture
def killable(tmp_path_factory):
    """A cluster of its own with the three services as processes, to kill and start again."""
    cluster = start_embedded(tmp_path_factory.mktemp("feed-faults") / "data").provision()
    stack = ServiceStack(cluster, {name: free_address() for name in ("customers", "catalog", "orders")},
                         extra_env={"orders": FAST_RECOVERY}, log_dir=tmp_path_factory.mktemp("feed-faults-logs"))
    stack.start()
    yield cluster, stack
    stack.stop()
    stop_embedded(cluster)


def rows(cluster, sql: str, *params) -> list[tuple]:
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    conn.close()
    return found


def kill_and_restart(stack, name: str) -> None:
    process = stack.processes[name].process
    process.kill()  # SIGKILL, mid-load
    process.wait()
    time.sleep(0.3)
    wait_serving(stack.launch(name).address, timeout=30, process=stack.processes[name].process)


def test_readers_of_both_feeds_get_every_committed_change_once_through_killed_services(killable, issuer):
    cluster, services = killable
    token = issuer.staff_token(ttl=3600)
    purchases = Reader(services.addresses["orders"], token, watch_purchases)
    discs = Reader(services.addresses["catalog"], token, watch_discs)
    outcome = {}

    def load():
        outcome["result"] = run(Settings(customers=services.addresses["customers"],
                                         catalog=services.addresses["catalog"], orders=services.addresses["orders"],
                                         clients=12, duration=6, max_requests=4000, discs=3, stock=20, seed=24,
                                         issuer=issuer))

    loader = threading.Thread(target=load)
    try:
        loader.start()
        time.sleep(1.5)
        kill_and_restart(services, "orders")
        time.sleep(1.0)
        kill_and_restart(services, "catalog")
        loader.join()
        result = outcome["result"]
        print(result.text)
        assert "INTERNAL" not in result.tally.codes, result.text
        assert result.tally.outcomes["effective"] > 0

        def settled():  # the recovery loop finishes what the kills left pending or cancelling
            report = check(cluster.admin_url, result.disc_ids)
            return report.ok and not report.unfinished

        deadline = time.monotonic() + 30
        while not settled():
            assert time.monotonic() < deadline, "purchases still unfinished"
            time.sleep(0.1)
        purchases.caught_up(rows(cluster, "SELECT coalesce(max(id), 0) FROM orders.events")[0][0])
        discs.caught_up(rows(cluster, "SELECT coalesce(max(id), 0) FROM catalog.events")[0][0])
    finally:
        purchases.stop()
        discs.stop()
    assert purchases.connections > 1 and discs.connections > 1  # each reader lived through a kill
    assert purchases.out_of_order == [] and discs.out_of_order == []

    # Exactly the events committed: none lost, none of a change that rolled back (its row would
    # not be there), each once.
    for reader, schema in ((purchases, "orders"), (discs, "catalog")):
        committed = {row[0] for row in rows(cluster, f"SELECT id FROM {schema}.events")}
        assert set(reader.received) == committed, schema

    # Each purchase's events are a history it can have, ending in the state it has now.
    histories: dict[str, list[str]] = {}
    for position in sorted(purchases.received):
        event = purchases.received[position]
        histories.setdefault(event.purchase.id, []).append(orders_pb2.PurchaseEvent.Type.Name(event.type))
    states = dict(rows(cluster, "SELECT id::text, state FROM orders.purchases WHERE disc_id = ANY(%s::uuid[])",
                       result.disc_ids))
    assert set(histories) == {p for p, state in states.items() if state in FINAL.values()}
    for purchase_id, history in histories.items():
        assert tuple(history) in HISTORIES, (purchase_id, history)
        assert FINAL[history[-1]] == states[purchase_id], (purchase_id, history, states[purchase_id])

    # Each disc's stock events, in position order, are its stock's every step.
    moves = {"STOCK_RESERVED": -1, "STOCK_RELEASED": 1, "RESTOCKED": 1, "CREATED": 0}
    stocks = dict(rows(cluster, "SELECT id::text, stock FROM catalog.discs WHERE id = ANY(%s::uuid[])",
                       result.disc_ids))
    for disc_id, stock in stocks.items():
        events = [discs.received[p] for p in sorted(discs.received) if discs.received[p].disc.id == disc_id]
        assert catalog_pb2.DiscEvent.Type.Name(events[0].type) == "CREATED"
        for before, event in zip(events, events[1:]):
            step = moves[catalog_pb2.DiscEvent.Type.Name(event.type)] * event.quantity
            assert event.disc.stock == before.disc.stock + step, (disc_id, before, event)
        assert events[-1].disc.stock == stock
