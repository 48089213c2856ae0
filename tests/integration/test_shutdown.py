"""SIGTERM under load: the calls in flight finish and their answers reach the clients; what the
server refuses meanwhile it refuses with UNAVAILABLE (safe to retry), never CANCELLED."""

import signal
import threading
import time
import uuid
from dataclasses import dataclass

import grpc
import psycopg2
import pytest
from recordstore.orders.v1 import orders_pb2 as pb
from recordstore.orders.v1 import orders_pb2_grpc

from devstack.invariant import check
from devstack.loopback import free_address
from devstack.processes import start_service, stop, wait_serving
from services.runtime.db import Database
from tests.support import channel, create_customer, create_disc, every_page

pytestmark = pytest.mark.slow
CLIENTS = 12


@dataclass(frozen=True)
class Call:
    request_id: str
    started: float
    answered: float
    code: str
    purchase: pb.Purchase | None


def test_sigterm_under_load_answers_every_call_in_flight_and_exits_zero(cluster, stack):
    address = free_address()
    # Started before this test opens any channel: forking while gRPC threads are busy can crash
    # the child.
    orders = start_service("orders", address, cluster.service_url("orders"),
                           {"CUSTOMERS_ADDR": stack.addresses["customers"], "CATALOG_ADDR": stack.addresses["catalog"],
                            "LOG_LEVEL": "WARNING"})
    try:
        wait_serving(address, timeout=30, process=orders.process)
        customer, disc = create_customer(stack), create_disc(stack, stock=100_000)
        calls: list[Call] = []
        lock = threading.Lock()
        signalled_at: list[float] = []

        def client() -> None:
            with channel(address, stack.tokens[customer.id]) as buyer:
                stub = orders_pb2_grpc.OrderServiceStub(buyer)
                give_up = time.monotonic() + 30
                while time.monotonic() < give_up:
                    request_id = str(uuid.uuid4())
                    started = time.monotonic()
                    try:
                        purchase = stub.CreatePurchase(pb.CreatePurchaseRequest(
                            purchase=pb.Purchase(customer_id=customer.id, disc_id=disc.id, quantity=1),
                            request_id=request_id), timeout=10)
                        code = "OK"
                    except grpc.RpcError as error:
                        purchase, code = None, error.code().name
                    with lock:
                        calls.append(Call(request_id, started, time.monotonic(), code, purchase))
                    if code != "OK" and signalled_at:
                        return  # the server is going away: this client is done

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while sum(c.code == "OK" for c in list(calls)) < 100:  # under load
            assert orders.alive(), "the orders process died"
            time.sleep(0.05)
        signalled_at.append(time.monotonic())
        orders.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=40)
        assert orders.process.wait(timeout=30) == 0
    finally:
        stop([orders.process])

    signal_time = signalled_at[0]
    before = [c for c in calls if c.started < signal_time]
    codes_before = {code: sum(c.code == code for c in before) for code in {c.code for c in before}}
    in_flight = [c for c in before if c.answered > signal_time]
    codes_after = {code: sum(c.code == code and c.started >= signal_time for c in calls) for code in {c.code for c in calls}}
    print(f"started before SIGTERM: {codes_before}, of which {len(in_flight)} were in flight at the signal "
          f"({sum(c.code == 'OK' for c in in_flight)} answered OK); started after: {codes_after}")
    assert in_flight, "no call was in flight at the signal: nothing tested"
    assert "CANCELLED" not in codes_before, codes_before
    # UNAVAILABLE: refused while the server stopped admitting RPCs, before the listener closed.
    assert set(codes_before) <= {"OK", "UNAVAILABLE"}, codes_before
    assert "CANCELLED" not in codes_after and set(codes_after) <= {"OK", "UNAVAILABLE"}, codes_after

    answered = {c.purchase.id: c.purchase for c in calls if c.code == "OK"}
    recorded = {p.id: p for p in every_page(stack.orders.ListPurchases, pb.ListPurchasesRequest, "purchases",
                                            customer_id=customer.id, page_size=1000)}
    assert set(answered) <= set(recorded), "an answered purchase is not in the database"
    assert all(recorded[i] == answered[i] for i in answered)
    assert all(p.state == pb.Purchase.CONFIRMED for p in recorded.values()), "a purchase was left unfinished"
    assert check(cluster.admin_url, [disc.id]).ok


def test_a_closed_pool_opens_nothing_and_fails_fast(stack, cluster):
    async def scenario():
        database = await Database(cluster.service_url("orders"), 2, "test-closed-pool").open()
        await database.close()
        started = time.monotonic()
        with pytest.raises(psycopg2.InterfaceError, match="pool is closed"):
            async with database.autocommit() as session:
                await session.one("SELECT 1")
        return time.monotonic() - started

    assert stack.run(scenario()) < 0.1
    with psycopg2.connect(cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'test-closed-pool'")
        assert cursor.fetchone()[0] == 0
    conn.close()
