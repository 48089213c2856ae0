"""A client that goes away mid-purchase (cancelled call, deadline passed) leaves nothing half done:
once a purchase row exists, the server finishes it whatever the caller does."""

import random
import threading
import time
import uuid

import grpc
from recordstore.orders.v1 import orders_pb2 as pb
from recordstore.orders.v1 import orders_pb2_grpc

from devstack.invariant import check
from tests.support import channel, create_customer, create_disc, every_page, serve_orders, stock_of

CLIENTS, PURCHASES_PER_CLIENT = 8, 30


def test_clients_cancelling_at_random_points_leave_no_purchase_pending(stack, cluster):
    # An orders server of its own, with no recovery loop: whatever ends settled was finished by
    # the server after its callers left, not by recovery.
    host = stack.run(serve_orders(stack.databases["orders"], stack.addresses["customers"], stack.addresses["catalog"]))
    purchases = host.built.purchases
    customer, disc = create_customer(stack), create_disc(stack, stock=100)
    codes: dict[str, int] = {}
    departed: set[str] = set()  # request ids of the calls whose client left before the answer
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with channel(f"127.0.0.1:{host.port}", stack.tokens[customer.id]) as buyer:
            grpc.channel_ready_future(buyer).result(timeout=10)  # the delays below are the purchase's
            stub = orders_pb2_grpc.OrderServiceStub(buyer)
            for _ in range(PURCHASES_PER_CLIENT):
                request = pb.CreatePurchaseRequest(
                    purchase=pb.Purchase(customer_id=customer.id, disc_id=disc.id, quantity=rng.randint(1, 2)),
                    request_id=str(uuid.uuid4()))
                if rng.random() < 0.5:  # the client hangs up after a random moment
                    call = stub.CreatePurchase.future(request, timeout=10)
                    time.sleep(rng.uniform(0.002, 0.05))
                    call.cancel()
                    try:
                        call.result()
                        code = "OK"
                    except grpc.FutureCancelledError:
                        code = "CANCELLED"
                    except grpc.RpcError as error:
                        code = error.code().name
                else:  # the client's deadline passes at a random moment
                    try:
                        stub.CreatePurchase(request, timeout=rng.uniform(0.002, 0.05))
                        code = "OK"
                    except grpc.RpcError as error:
                        code = error.code().name
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                    if code != "OK":
                        departed.add(request.request_id)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The purchases whose callers left are still finishing on the server: wait for those
        # (a few milliseconds each), not for a recovery loop, which this server does not run.
        assert stack.run(purchases.drain(timeout=10)) == 0
    finally:
        stack.run(host.stop(1))
    print(f"client outcomes: {codes}")
    assert codes.get("CANCELLED", 0) + codes.get("DEADLINE_EXCEEDED", 0) > 0, "no client went away: nothing tested"
    assert set(codes) <= {"OK", "CANCELLED", "DEADLINE_EXCEEDED"}, codes

    recorded = every_page(stack.orders.ListPurchases, pb.ListPurchasesRequest, "purchases",
                          customer_id=customer.id, page_size=1000)
    states = {pb.Purchase.State.Name(s): sum(p.state == s for p in recorded) for s in {p.state for p in recorded}}
    left_behind = [p for p in recorded if p.request_id in departed]
    print(f"purchases recorded: {len(recorded)} {states}, {len(left_behind)} of them after their client left")
    assert left_behind, "no purchase outlived its caller: nothing tested"
    assert all(p.state in (pb.Purchase.CONFIRMED, pb.Purchase.REJECTED) for p in recorded), states
    sold = sum(p.quantity for p in recorded if p.effective)
    assert stock_of(stack, disc.id) == 100 - sold
    report = check(cluster.admin_url, [disc.id])
    assert report.ok, report.violations
