"""Stock and purchases agree after anything: crashes at the worst moments, a catalog killed under
load, PostgreSQL restarted under load, a slow catalog, and a short stress run."""

import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.invariant import check
from devstack.loopback import free_address
from devstack.postgres import pg_ctl, start_embedded, stop_embedded
from devstack.processes import start_service, stop, wait_serving
from devstack.stack import ServiceStack
from devstack.stress import Settings, run
from services.orders.recovery import recover
from tests.support import channel, create_customer, create_disc, serve_orders, start_slow_catalog, stock_of

pytestmark = pytest.mark.slow
FAST_RECOVERY = {"RECOVERY_INTERVAL_SECONDS": "0.2", "RECOVERY_GRACE_SECONDS": "0.5"}
PURCHASE = orders_pb2.Purchase


def request(customer_id, disc_id, quantity, request_id):
    return orders_pb2.CreatePurchaseRequest(
        purchase=orders_pb2.Purchase(customer_id=customer_id, disc_id=disc_id, quantity=quantity),
        request_id=request_id)


def purchases_of(stack, customer_id):
    page = stack.orders.ListPurchases(orders_pb2.ListPurchasesRequest(customer_id=customer_id, page_size=1000))
    assert not page.next_page_token
    return list(page.purchases)


def wait_until(predicate, timeout=15.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not reached in time"
        time.sleep(0.05)
    return time.monotonic() - started


class OrdersProcess:
    """An orders service process that can be crashed at a fault point, then restarted."""

    def __init__(self, cluster, stack):
        self.address = free_address()
        self.cluster, self.stack = cluster, stack
        self.process = None

    def start(self, crash_at: str | None = None):
        env = {"CUSTOMERS_ADDR": self.stack.addresses["customers"], "CATALOG_ADDR": self.stack.addresses["catalog"],
               **FAST_RECOVERY, **({"ORDERS_CRASH_AT": crash_at} if crash_at else {})}
        self.process = start_service("orders", self.address, self.cluster.service_url("orders"), env).process
        wait_serving(self.address, timeout=30, process=self.process)
        return self

    def stub(self, channel):
        return orders_pb2_grpc.OrderServiceStub(channel)


@pytest.fixture
def orders_process(cluster, stack):
    orders = OrdersProcess(cluster, stack)
    yield orders
    if orders.process is not None:
        stop([orders.process])


@pytest.mark.parametrize("point", ["after_reserve", "after_settle"])
def test_orders_crashing_mid_purchase_leaks_nothing_and_retries_get_one_answer(point, cluster, stack, orders_process):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    request_id = str(uuid.uuid4())
    orders_process.start(crash_at=point)
    with channel(orders_process.address, stack.tokens[customer.id]) as buyer:
        with pytest.raises(grpc.RpcError) as caught:
            orders_process.stub(buyer).CreatePurchase(request(customer.id, disc.id, 2, request_id), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert orders_process.process.wait(timeout=10) == 70
    crashed_at = time.monotonic()
    assert stock_of(stack, disc.id) == 1  # reserved before the crash

    orders_process.start()
    wait_until(lambda: [p.state for p in purchases_of(stack, customer.id)] == [PURCHASE.CONFIRMED])
    recovery = time.monotonic() - crashed_at
    assert check(cluster.admin_url, [disc.id]).ok
    with channel(orders_process.address, stack.tokens[customer.id]) as buyer:
        retried = orders_process.stub(buyer).CreatePurchase(request(customer.id, disc.id, 2, request_id), timeout=10)
    assert retried.state == PURCHASE.CONFIRMED and [p.id for p in purchases_of(stack, customer.id)] == [retried.id]
    assert stock_of(stack, disc.id) == 1
    print(f"{point}: consistent again {recovery:.2f}s after the crash (restart included)")


def test_orders_crashing_mid_cancellation_restocks_exactly_once(cluster, stack, orders_process):
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    orders_process.start(crash_at="during_cancel")
    with channel(orders_process.address, stack.tokens[customer.id]) as buyer:
        stub = orders_process.stub(buyer)
        bought = stub.CreatePurchase(request(customer.id, disc.id, 2, str(uuid.uuid4())), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    assert orders_process.process.wait(timeout=10) == 70
    assert stock_of(stack, disc.id) == 1

    orders_process.start()
    wait_until(lambda: purchases_of(stack, customer.id)[0].state == PURCHASE.CANCELLED)
    assert stock_of(stack, disc.id) == 3 and check(cluster.admin_url, [disc.id]).ok
    with channel(orders_process.address, stack.tokens[customer.id]) as buyer:
        again = orders_process.stub(buyer).CancelPurchase(orders_pb2.CancelPurchaseRequest(id=bought.id), timeout=10)
    assert again.state == PURCHASE.CANCELLED and stock_of(stack, disc.id) == 3


def buy_at_once(address, token, customer_id, disc_id, request_ids, timeout=10):
    """Sends one purchase per request id at the same moment (so that the orders service batches
    them); returns each one's purchase or status code, in order."""
    with channel(address, token) as buyer:
        stub = orders_pb2_grpc.OrderServiceStub(buyer)
        calls = [stub.CreatePurchase.future(request(customer_id, disc_id, 1, r), timeout=timeout) for r in request_ids]
        answers = []
        for call in calls:
            try:
                answers.append(call.result())
            except grpc.RpcError as error:
                answers.append(error.code())
        return answers


def test_orders_crashing_after_a_batch_of_reservations_settles_each_once(cluster, stack, orders_process):
    """ORDERS_CRASH_AT=after_batch_reserve: the process dies as a ReserveStocks answer arrives, the
    batch's units taken and none of its purchases settled. Recovery settles each with its own
    reservation's outcome; nothing is reserved twice."""
    customer, disc = create_customer(stack), create_disc(stack, stock=6)
    request_ids = [str(uuid.uuid4()) for _ in range(10)]
    orders_process.start(crash_at="after_batch_reserve")
    answers = buy_at_once(orders_process.address, stack.tokens[customer.id], customer.id, disc.id, request_ids)
    assert grpc.StatusCode.UNAVAILABLE in answers and grpc.StatusCode.INTERNAL not in answers
    assert orders_process.process.wait(timeout=10) == 70  # a batch formed, and the process died on its answer

    orders_process.start()
    wait_until(lambda: not any(p.state == PURCHASE.PENDING for p in purchases_of(stack, customer.id)))
    recorded = purchases_of(stack, customer.id)
    assert len(recorded) <= len(request_ids)  # those the crash stopped before recording: never made
    assert sum(p.effective for p in recorded) == min(6, len(recorded)) and check(cluster.admin_url, [disc.id]).ok
    # The clients' retries get the purchases recorded, and make the others: ten purchases, six sold.
    retried = buy_at_once(orders_process.address, stack.tokens[customer.id], customer.id, disc.id, request_ids)
    assert all(isinstance(p, orders_pb2.Purchase) for p in retried)
    assert {p.id for p in recorded} <= {p.id for p in retried}
    assert sum(p.effective for p in retried) == 6 and stock_of(stack, disc.id) == 0
    assert sorted(p.request_id for p in purchases_of(stack, customer.id)) == sorted(request_ids)
    assert check(cluster.admin_url, [disc.id]).ok


def test_a_catalog_crashing_mid_batch_commits_none_of_it(cluster, stack):
    """CATALOG_CRASH_AT=mid_batch: the catalog dies with a batch's units taken and not committed.
    None of the batch stays taken; recovery reserves them again, once each."""
    catalog_address = free_address()
    catalog = start_service("catalog", catalog_address, cluster.service_url("catalog"), {"CATALOG_CRASH_AT": "mid_batch"})
    wait_serving(catalog_address, timeout=30, process=catalog.process)
    orders_host = stack.run(serve_orders(stack.databases["orders"], stack.addresses["customers"], catalog_address))
    customer, disc = create_customer(stack), create_disc(stack, stock=5)
    request_ids = [str(uuid.uuid4()) for _ in range(10)]
    try:
        answers = buy_at_once(f"127.0.0.1:{orders_host.port}", stack.tokens[customer.id], customer.id, disc.id,
                              request_ids)
        assert catalog.process.wait(timeout=10) == 70  # a batch formed, and the catalog died in it
        assert grpc.StatusCode.UNAVAILABLE in answers and grpc.StatusCode.INTERNAL not in answers
        sold_before = sum(isinstance(a, orders_pb2.Purchase) and a.effective for a in answers)
        assert stock_of(stack, disc.id) == 5 - sold_before  # the batch's units are all back
        catalog = start_service("catalog", catalog_address, cluster.service_url("catalog"))
        wait_serving(catalog_address, timeout=30, process=catalog.process)

        def recovered():  # rounds of the recovery loop, until the channel to the catalog is back
            stack.run(recover(orders_host.built.purchases, older_than_seconds=0, call_timeout=5))
            return not any(p.state == PURCHASE.PENDING for p in purchases_of(stack, customer.id))

        wait_until(recovered, timeout=30)
    finally:
        stack.run(orders_host.stop(1))
        stop([catalog.process])
    recorded = purchases_of(stack, customer.id)
    assert len(recorded) == len(request_ids)
    assert sum(p.effective for p in recorded) == 5 and stock_of(stack, disc.id) == 0
    assert check(cluster.admin_url, [disc.id]).ok


def buy_with_retries(orders, customer_id, disc_id, request_id, deadline):
    """A careful client: retries UNAVAILABLE / DEADLINE_EXCEEDED with the same request_id."""
    codes = []
    while True:
        try:
            return orders.CreatePurchase(request(customer_id, disc_id, 1, request_id), timeout=3), codes
        except grpc.RpcError as error:
            codes.append(error.code())
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                    or time.monotonic() > deadline:
                return None, codes
            time.sleep(0.05)


def test_a_catalog_killed_mid_reservation_loses_and_duplicates_nothing(cluster, stack):
    catalog_address = free_address()
    catalog = start_service("catalog", catalog_address, cluster.service_url("catalog"))
    wait_serving(catalog_address, timeout=30, process=catalog.process)
    orders_host = stack.run(serve_orders(stack.databases["orders"], stack.addresses["customers"], catalog_address))
    purchases = orders_host.built.purchases
    customer, disc = create_customer(stack), create_disc(stack, stock=40)
    request_ids = [str(uuid.uuid4()) for _ in range(60)]
    answers, all_codes = {}, []
    deadline = time.monotonic() + 30

    def client(ids):
        with channel(f"127.0.0.1:{orders_host.port}", stack.tokens[customer.id]) as buyer:
            stub = orders_pb2_grpc.OrderServiceStub(buyer)
            for request_id in ids:
                answers[request_id], codes = buy_with_retries(stub, customer.id, disc.id, request_id, deadline)
                all_codes.extend(codes)

    threads = [threading.Thread(target=client, args=(request_ids[i::6],)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.4)
        catalog.process.kill()  # SIGKILL, mid-load
        catalog.process.wait()
        time.sleep(0.5)
        catalog = start_service("catalog", catalog_address, cluster.service_url("catalog"))
        wait_serving(catalog_address, timeout=30, process=catalog.process)
        for t in threads:
            t.join()
        assert all(answers[r] is not None for r in request_ids), "a client gave up"
        assert grpc.StatusCode.INTERNAL not in all_codes
        stack.run(recover(purchases, older_than_seconds=0, call_timeout=5))
    finally:
        stack.run(orders_host.stop(1))
        stop([catalog.process])
    recorded = purchases_of(stack, customer.id)
    assert sorted(p.request_id for p in recorded) == sorted(request_ids)  # one purchase per request
    assert {p.id for p in recorded} == {a.id for a in answers.values()}  # and the answer is that purchase
    assert sum(p.effective for p in recorded) == 40 and stock_of(stack, disc.id) == 0
    assert check(cluster.admin_url, [disc.id]).ok


def test_a_slow_catalog_ends_in_deadline_exceeded_and_the_invariant_holds(stack, cluster):
    slow = stack.run(start_slow_catalog(stack, 1.0))
    orders_host = stack.run(serve_orders(stack.databases["orders"], stack.addresses["customers"],
                                         f"127.0.0.1:{slow.port}"))
    try:
        customer, disc = create_customer(stack), create_disc(stack, stock=2)
        with channel(f"127.0.0.1:{orders_host.port}", stack.tokens[customer.id]) as buyer:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                orders_pb2_grpc.OrderServiceStub(buyer).CreatePurchase(
                    request(customer.id, disc.id, 1, str(uuid.uuid4())), timeout=0.4)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 0.9  # the deadline held: nobody waited for the catalog
        # The caller is gone, but the server finishes what it started, with its own budget and
        # no recovery loop: the purchase settles as soon as the slow catalog answers.
        wait_until(lambda: purchases_of(stack, customer.id)[0].state == PURCHASE.CONFIRMED, timeout=10)
        assert stock_of(stack, disc.id) == 1
        assert check(cluster.admin_url, [disc.id]).ok
    finally:
        stack.run(orders_host.stop(1))
        stack.run(slow.stop(0))


def test_a_short_stress_run_keeps_the_invariant(cluster, stack):
    result = run(Settings(customers=stack.addresses["customers"], catalog=stack.addresses["catalog"],
                          orders=stack.addresses["orders"], database_url=cluster.admin_url,
                          clients=12, duration=3, max_requests=1500, discs=3, stock=15, seed=7,
                          issuer=stack.issuer))
    print(result.text)
    assert result.passed, result.text
    assert result.tally.requests > 0 and result.tally.outcomes["effective"] > 0


@pytest.fixture(scope="module")
def restartable(tmp_path_factory):
    """A cluster of its own with the three services as processes, for restarting PostgreSQL."""
    cluster = start_embedded(tmp_path_factory.mktemp("restartable") / "data").provision()
    stack = ServiceStack(cluster, {name: free_address() for name in ("customers", "catalog", "orders")},
                         extra_env={"orders": FAST_RECOVERY}, log_dir=tmp_path_factory.mktemp("restartable-logs"))
    stack.start()
    yield cluster, stack
    stack.stop()
    stop_embedded(cluster)


def test_postgres_restarted_under_load(restartable, issuer):
    cluster, services = restartable
    outcome = {}

    def load():
        outcome["result"] = run(Settings(customers=services.addresses["customers"],
                                         catalog=services.addresses["catalog"], orders=services.addresses["orders"],
                                         clients=12, duration=5, max_requests=3000, discs=3, stock=20, seed=11,
                                         issuer=issuer))

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(1.5)
    pg_ctl(cluster, "restart", "-m", "immediate")  # a crash, as far as the database is concerned
    loader.join()
    result = outcome["result"]
    print(result.text)
    assert "INTERNAL" not in result.tally.codes and not result.tally.failed, result.text
    assert result.tally.codes, "the restart went unnoticed: the test did not test anything"

    def settled():
        report = check(cluster.admin_url, result.disc_ids)
        return report.ok and not report.unfinished

    recovery = wait_until(settled, timeout=30)
    print(f"invariant holds {recovery:.2f}s after the load ended")


def test_pg_ctl_survives_being_run_while_grpc_threads_are_busy(restartable):
    """pg_ctl is started with no Python code between fork and exec: a child forked while gRPC
    threads run (subprocess's user=) crashed now and then, and pg_ctl failed with no output."""
    cluster, services = restartable
    calls, done = [], threading.Event()

    def busy():
        with channel(services.addresses["catalog"]) as plain:
            stub = health_pb2_grpc.HealthStub(plain)
            while not done.is_set():
                try:
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.RpcError:
                    pass
                calls.append(1)

    threads = [threading.Thread(target=busy) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(25):
            pg_ctl(cluster, "restart", "-m", "immediate")
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=10)
    assert len(calls) > 15, "no gRPC traffic ran alongside the restarts"
    wait_serving(services.addresses["catalog"], timeout=30)
