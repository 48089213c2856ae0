"""Two replicas of each service: purchases and cancellations keep going, through the gateway and
over gRPC, while a catalog replica and an orders replica are killed (SIGKILL) and started again.
Nothing is lost or bought twice, nothing answers INTERNAL, and stock and purchases agree."""

from __future__ import annotations

import collections
import http.client
import json
import os
import random
import signal
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import grpc
import psycopg2
import pytest
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.invariant import check
from services.runtime import tls
from tests.support import tls_as

pytestmark = pytest.mark.slow

DURATION = 15.0  # seconds of load
CLIENTS = {"grpc": 3, "gateway": 3}
DISCS, STOCK = 3, 150
RETRY_FOR = 20.0  # how long a client keeps retrying one request (same request_id) before giving up


def balanced(target: str, service: str, token: str | None = None) -> grpc.Channel:
    """A client's channel to every replica of `service`, round robin, over mutual TLS."""
    opened = tls.channel(target, tls_as("client"), options=[
        ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
        ("grpc.ssl_target_name_override", service)])
    return opened


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Ledger:
    """What the clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: dict = field(default_factory=dict)  # request_id -> purchase id (every answer must agree)
    disagreements: list = field(default_factory=list)
    sent: set = field(default_factory=set)  # request ids
    codes: collections.Counter = field(default_factory=collections.Counter)  # every failed attempt, by status
    gave_up: collections.Counter = field(default_factory=collections.Counter)
    successes: list = field(default_factory=list)  # monotonic time of each successful call
    cancelled: int = 0
    effective: int = 0

    def answer(self, request_id: str, purchase_id: str) -> None:
        with self.lock:
            known = self.answered.setdefault(request_id, purchase_id)
            if known != purchase_id:
                self.disagreements.append((request_id, known, purchase_id))
            self.successes.append(time.monotonic())


class GrpcShopper:
    def __init__(self, replicated, token: str):
        self.channel = balanced(replicated.target("orders"), "orders")
        self.orders = orders_pb2_grpc.OrderServiceStub(self.channel)
        self.metadata = auth(token)

    def buy(self, customer_id, disc_id, quantity, request_id):
        request = orders_pb2.CreatePurchaseRequest(purchase=orders_pb2.Purchase(
            customer_id=customer_id, disc_id=disc_id, quantity=quantity), request_id=request_id)
        answer = self.orders.CreatePurchase(request, timeout=5, metadata=self.metadata)
        return answer.id, answer.effective

    def cancel(self, purchase_id) -> bool:
        answer = self.orders.CancelPurchase(orders_pb2.CancelPurchaseRequest(id=purchase_id), timeout=5,
                                            metadata=self.metadata)
        return answer.state == orders_pb2.Purchase.CANCELLED

    def close(self):
        self.channel.close()


class Failed(Exception):
    def __init__(self, code: str, retryable: bool):
        super().__init__(code)
        self.code, self.retryable = code, retryable


class GatewayShopper:
    def __init__(self, replicated, token: str):
        self.port = int(replicated.gateway.url.rsplit(":", 1)[1])
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    def _post(self, path: str, body: dict) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=json.dumps(body), headers=self.headers)
            reply = conn.getresponse()
            text = reply.read().decode()
        except OSError as error:
            raise Failed(f"connection: {type(error).__name__}", True) from None
        finally:
            conn.close()
        if reply.status != 200:
            code = json.loads(text).get("code") if text.startswith("{") else None
            name = grpc.StatusCode.INTERNAL.name if reply.status == 500 else f"HTTP {reply.status} code {code}"
            raise Failed(name, reply.status in (503, 504))
        return json.loads(text)

    def buy(self, customer_id, disc_id, quantity, request_id):
        answer = self._post(f"/v1/purchases?request_id={request_id}",
                            {"customer_id": customer_id, "disc_id": disc_id, "quantity": quantity})
        return answer["id"], answer.get("effective", False)

    def cancel(self, purchase_id) -> bool:
        return self._post(f"/v1/purchases/{purchase_id}:cancel", {}).get("state") == "CANCELLED"

    def close(self):
        pass


def attempt(ledger: Ledger, call):
    """Calls until it succeeds, retrying what a client retries (UNAVAILABLE, a timeout) with the
    same request; None when it never did."""
    started = time.monotonic()
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            failure = Failed(error.code().name, error.code() in (grpc.StatusCode.UNAVAILABLE,
                                                                 grpc.StatusCode.DEADLINE_EXCEEDED))
        except Failed as error:
            failure = error
        with ledger.lock:
            ledger.codes[failure.code] += 1
        if not failure.retryable or time.monotonic() - started > RETRY_FOR:
            with ledger.lock:
                ledger.gave_up[failure.code] += 1
            return None
        time.sleep(0.05)


def shop(shopper, ledger: Ledger, customer_id: str, disc_ids: list[str], until: float, rng: random.Random):
    try:
        while time.monotonic() < until:
            request_id = str(uuid.uuid4())
            with ledger.lock:
                ledger.sent.add(request_id)
            disc_id, quantity = rng.choice(disc_ids), rng.choice((1, 1, 2))
            bought = attempt(ledger, lambda: shopper.buy(customer_id, disc_id, quantity, request_id))
            if bought is None:
                continue
            purchase_id, effective = bought
            ledger.answer(request_id, purchase_id)
            with ledger.lock:
                ledger.effective += effective
            if effective and rng.random() < 0.3:
                cancelled = attempt(ledger, lambda: shopper.cancel(purchase_id))
                if cancelled is not None:
                    with ledger.lock:
                        ledger.cancelled += 1
                        ledger.successes.append(time.monotonic())
                        if not cancelled:
                            ledger.disagreements.append((purchase_id, "cancel answered", "not CANCELLED"))
    finally:
        shopper.close()


def kill_and_wait_back(replicated, instance: str, timeout: float = 60) -> tuple[float, float]:
    """SIGKILLs one replica; the supervisor starts it again. Returns (killed at, back at)."""
    unit = replicated.unit(instance)
    old = unit.handle.pid
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    while not (unit.handle.pid != old and unit.is_ready and unit.restart_at is None):
        assert time.monotonic() - killed < timeout, f"{instance} did not come back"
        time.sleep(0.05)
    return killed, time.monotonic()


def prepare(replicated, issuer):
    run = uuid.uuid4().hex[:8]
    staff = issuer.staff_token(f"replicas-staff-{run}", ttl=3600)
    shoppers = []
    with balanced(replicated.target("customers"), "customers") as c, \
            balanced(replicated.target("catalog"), "catalog") as k:
        customers = customers_pb2_grpc.CustomerServiceStub(c)
        catalog = catalog_pb2_grpc.CatalogServiceStub(k)
        for i in range(sum(CLIENTS.values())):
            token = issuer.customer_token(f"replicas-{run}-{i}", ttl=3600)
            customer = customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
                name=f"Replica shopper {i}", email=f"replicas-{run}-{i}@example.com")), timeout=10,
                metadata=auth(token))
            shoppers.append((customer.id, token))
        discs = [catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
            title=f"Replicated {i}", artist=f"Replicas {run}", genre="Test", release_year=2001,
            price=money_pb2.Money(currency_code="BRL", units=20 + i), stock=STOCK)), timeout=10,
            metadata=auth(staff)).id for i in range(DISCS)]
    return shoppers, discs


def purchases_in_database(replicated, disc_ids) -> dict[str, tuple[str, str]]:
    with psycopg2.connect(replicated.cluster.admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT request_id::text, id::text, state FROM orders.purchases WHERE disc_id = ANY(%s::uuid[])",
                       (disc_ids,))
        rows = cursor.fetchall()
    conn.close()
    return {request_id: (purchase_id, state) for request_id, purchase_id, state in rows}


def test_a_catalog_and_an_orders_replica_killed_under_load_lose_nothing(replicated, issuer):
    shoppers, disc_ids = prepare(replicated, issuer)
    ledger = Ledger()
    rng = random.Random(12)
    kinds = ["grpc"] * CLIENTS["grpc"] + ["gateway"] * CLIENTS["gateway"]
    started = time.monotonic()
    until = started + DURATION
    threads = []
    for kind, (customer_id, token) in zip(kinds, shoppers):
        shopper = GrpcShopper(replicated, token) if kind == "grpc" else GatewayShopper(replicated, token)
        threads.append(threading.Thread(target=shop, args=(shopper, ledger, customer_id, disc_ids, until,
                                                           random.Random(rng.random())), daemon=True))
    for thread in threads:
        thread.start()
    windows = {}
    try:
        time.sleep(3)
        windows["catalog-1"] = kill_and_wait_back(replicated, "catalog-1")
        time.sleep(2)
        windows["orders-1"] = kill_and_wait_back(replicated, "orders-1")
    finally:
        for thread in threads:
            thread.join(timeout=DURATION + RETRY_FOR + 30)
    elapsed = time.monotonic() - started
    assert not any(thread.is_alive() for thread in threads)

    while_down = {name: sum(1 for t in ledger.successes if killed <= t <= back)
                  for name, (killed, back) in windows.items()}
    print(f"{len(ledger.answered)} purchases answered ({ledger.effective} effective), {ledger.cancelled} cancelled in {elapsed:.1f}s "
          f"({len(ledger.answered) / elapsed:.0f}/s); failed attempts (retried) {dict(ledger.codes) or 'none'}; "
          f"given up {dict(ledger.gave_up) or 'none'}; down for "
          f"{ {name: round(back - killed, 2) for name, (killed, back) in windows.items()} } s, "
          f"calls that succeeded meanwhile {while_down}")

    assert "INTERNAL" not in ledger.codes and not ledger.gave_up, (ledger.codes, ledger.gave_up)
    assert not ledger.disagreements, ledger.disagreements
    assert len(ledger.answered) > 20 and ledger.cancelled > 0, "too little load to show anything"
    assert all(count > 0 for count in while_down.values()), f"nothing succeeded while a replica was down: {while_down}"

    def settled():
        report = check(replicated.cluster.admin_url, disc_ids)
        return report if report.ok and not report.unfinished else None

    deadline = time.monotonic() + 30
    while (report := settled()) is None:
        assert time.monotonic() < deadline, check(replicated.cluster.admin_url, disc_ids)
        time.sleep(0.2)
    stored = purchases_in_database(replicated, disc_ids)
    # Not lost: every answered purchase is stored under its request id, as answered.
    assert {rid: stored.get(rid, (None,))[0] for rid in ledger.answered} == ledger.answered
    # Not bought twice: nothing stored but what was sent, one purchase per request id.
    assert set(stored) <= ledger.sent
    assert len({purchase_id for purchase_id, _ in stored.values()}) == len(stored)


def envoy_hosts(replicated) -> dict[str, dict[str, dict]]:
    """Envoy's view of its upstreams: cluster -> host address -> health status."""
    with urllib.request.urlopen(f"{replicated.gateway.admin_url}/clusters?format=json", timeout=5) as reply:
        clusters = json.load(reply)["cluster_statuses"]
    return {cluster["name"]: {f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}":
                              h["health_status"] for h in cluster.get("host_statuses", [])}
            for cluster in clusters}


def envoy_stat(replicated, name: str) -> int:
    with urllib.request.urlopen(f"{replicated.gateway.admin_url}/stats?filter=^{name}$", timeout=5) as reply:
        line = reply.read().decode().strip()
    return int(line.rpartition(": ")[2]) if line else 0


def test_envoy_lists_every_replica_and_health_checks_each_over_mutual_tls(replicated):
    hosts = envoy_hosts(replicated)
    for service in ("customers", "catalog", "orders"):
        assert set(hosts[service]) == set(replicated.services.replicas(service))

        def all_pass():
            statuses = envoy_hosts(replicated)[service].values()
            return envoy_stat(replicated, f"cluster.{service}.health_check.success") >= 2 and \
                not any(status.get("failed_active_health_check") for status in statuses)

        deadline = time.monotonic() + 15
        while not all_pass():
            assert time.monotonic() < deadline, envoy_hosts(replicated)[service]
            time.sleep(0.1)
