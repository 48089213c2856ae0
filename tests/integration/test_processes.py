"""The service processes as a deployment runs them: config checks, health, SIGTERM, restarts."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
from grpc import intercept_channel
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.credentials import issuer_in
from devstack.pki import pki_in
from devstack.loopback import free_address, free_port, port_in_use
from devstack.postgres import pg_ctl, start_embedded, stop_embedded
from devstack.processes import REPO_ROOT, start_service, stop, wait_serving
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.runtime import tls
from services.runtime.tls import TlsFiles
from tests.support import Bearer, channel, create_customer, create_disc, start_slow_catalog

pytestmark = pytest.mark.slow


def run_module(module: str, env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module], cwd=REPO_ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def test_a_missing_certificate_or_token_issuer_stops_the_start_with_its_name(cluster, pki):
    """A service never serves without mutual TLS nor without knowing whose tokens to trust."""
    base = {"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": cluster.service_url("catalog"), **pki.env("catalog")}
    for missing in ("TLS_CERT_FILE", "TLS_CA_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"):
        result = run_module("services.catalog", {**base, missing: ""})
        assert result.returncode == 2 and missing in result.stderr, (missing, result.stderr[-500:])
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("env, named", [
    ({"LISTEN_ADDR": "nowhere", "DATABASE_URL": "postgresql://x@/y"}, "LISTEN_ADDR"),
    ({"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": "postgresql://x@/y", "DB_POOL_SIZE": "many"}, "DB_POOL_SIZE"),
])
def test_a_wrong_setting_stops_the_start_with_its_name(env, named):
    result = run_module("services.catalog", env)
    assert result.returncode == 2
    assert named in result.stderr and "Traceback" not in result.stderr


def test_orders_refuses_a_malformed_peer_address(cluster):
    result = run_module("services.orders", {"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": cluster.service_url("orders"),
                                            "CATALOG_ADDR": "catalog-without-port"})
    assert result.returncode == 2 and "CATALOG_ADDR" in result.stderr


@pytest.mark.parametrize("service, setting", [("orders", "RECOVERY_GRACE_SECONDS"), ("orders", "CATALOG_ADDR"),
                                              ("catalog", "AUTH_AUDIENCE"), ("customers", "TLS_KEY_FILE")])
def test_every_setting_is_read_before_the_database_is_tried(service, setting, pki):
    """A wrong setting fails the start at once, naming it: not after the pool has waited for a
    database (here one nobody listens for, which it would wait 30 s for) and the migrations ran."""
    unreachable = f"postgresql://{service}:pw@{free_address()}/recordstore"
    wrong = {"RECOVERY_GRACE_SECONDS": "soon", "CATALOG_ADDR": "catalog-without-port"}.get(setting, "")
    started = time.monotonic()
    result = run_module(f"services.{service}", {"LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": unreachable,
                                                 **pki.env(service), setting: wrong}, timeout=20)
    assert result.returncode == 2 and setting in result.stderr, result.stderr[-500:]
    assert "database" not in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 10


def test_sigterm_lets_in_flight_purchases_finish_then_exits_zero(cluster, stack):
    slow = stack.run(start_slow_catalog(stack, 1.5))
    address = free_address()
    orders = start_service("orders", address, cluster.service_url("orders"),
                           {"CUSTOMERS_ADDR": stack.addresses["customers"], "CATALOG_ADDR": f"127.0.0.1:{slow.port}"})
    try:
        wait_serving(address, timeout=30, process=orders.process)
        customer, disc = create_customer(stack), create_disc(stack, stock=3)
        with channel(address, stack.tokens[customer.id]) as buyer, ThreadPoolExecutor(3) as pool:
            stub = orders_pb2_grpc.OrderServiceStub(buyer)
            request = orders_pb2.CreatePurchaseRequest(
                purchase=orders_pb2.Purchase(customer_id=customer.id, disc_id=disc.id, quantity=1))
            in_flight = [pool.submit(stub.CreatePurchase, request, timeout=20) for _ in range(3)]
            time.sleep(0.7)
            orders.process.send_signal(signal.SIGTERM)
            assert all(f.result().state == orders_pb2.Purchase.CONFIRMED for f in in_flight)
        assert orders.process.wait(timeout=15) == 0
    finally:
        stop([orders.process])
        stack.run(slow.stop(0))


@pytest.fixture(scope="module")
def spare_cluster(tmp_path_factory):
    """A cluster of its own, which these tests stop and restart."""
    cluster = start_embedded(tmp_path_factory.mktemp("spare") / "data").provision()
    yield cluster
    stop_embedded(cluster)


def health_status(stub) -> int:
    try:
        return stub.Check(health_pb2.HealthCheckRequest(service=CATALOG_SERVICE_NAME), timeout=1).status
    except grpc.RpcError:
        return -1


def wait_for_status(stub, wanted, timeout=15.0) -> float:
    started = time.monotonic()
    while health_status(stub) != wanted:
        assert time.monotonic() - started < timeout, f"health never became {wanted}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_health_follows_the_database(spare_cluster):
    address = free_address()
    catalog = start_service("catalog", address, spare_cluster.service_url("catalog"))
    try:
        wait_serving(address, timeout=30, process=catalog.process)
        with channel(address) as health:
            stub = health_pb2_grpc.HealthStub(health)
            pg_ctl(spare_cluster, "stop", "-m", "fast")
            wait_for_status(stub, health_pb2.HealthCheckResponse.NOT_SERVING)
            pg_ctl(spare_cluster, "start")
            wait_for_status(stub, health_pb2.HealthCheckResponse.SERVING)
            assert catalog.alive()
    finally:
        assert stop([catalog.process]) == {catalog.process.pid: 0}


def test_the_run_command_keeps_data_across_restarts(tmp_path):
    base_port = free_port()
    while any(port_in_use("127.0.0.1", base_port + i) for i in range(3)):
        base_port = free_port()
    command = [sys.executable, "-m", "devstack", "--data-dir", str(tmp_path / "pg"), "--base-port", str(base_port),
               "--no-gateway"]
    customers_addr = f"127.0.0.1:{base_port}"

    # The run's own CA (made now, kept by the run): its services accept no other client certificate.
    pki = pki_in(tmp_path / "pg").ensure()
    as_client = TlsFiles.of(pki.ca_path, pki.cert_path("client"), pki.key_path("client"))

    def run_stack():
        with open(tmp_path / "run.log", "ab") as log:
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        for port in range(base_port, base_port + 3):  # started at once, ready in any order
            try:
                wait_serving(f"127.0.0.1:{port}", timeout=60, process=process, files=as_client)
            except RuntimeError:
                raise AssertionError((tmp_path / "run.log").read_text()[-3000:]) from None
        return process

    first = run_stack()
    try:
        issuer = issuer_in(tmp_path / "pg")  # the run made its signing key beside its data
        with intercept_channel(tls.channel(customers_addr, as_client), Bearer(issuer.staff_token())) as staff:
            created = create_customer(SimpleNamespace(customers=customers_pb2_grpc.CustomerServiceStub(staff),
                                                      issuer=issuer, tokens={}))
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
    second = run_stack()
    try:
        with intercept_channel(tls.channel(customers_addr, as_client), Bearer(issuer.staff_token())) as staff:
            stub = customers_pb2_grpc.CustomerServiceStub(staff)
            assert stub.GetCustomer(customers_pb2.GetCustomerRequest(id=created.id)) == created
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0

