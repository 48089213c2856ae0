"""Session-wide real parts: one embedded PostgreSQL, the three services in-process on loopback.

The services are asyncio (grpc.aio) servers: they run on an event loop in a thread of their
own, and the tests talk to them through ordinary blocking stubs, as any client would. Each test
makes its own customers and discs (unique names), so tests share the cluster safely.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass

import pytest

# grpc core logs an INFO line whenever a test forks a service process; keep the output readable.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from recordstore.catalog.v1 import catalog_pb2_grpc  # noqa: E402
from recordstore.customers.v1 import customers_pb2_grpc  # noqa: E402
from recordstore.orders.v1 import orders_pb2_grpc  # noqa: E402

from devstack.credentials import DevIssuer  # noqa: E402
from devstack.pki import DevPki  # noqa: E402
from devstack.processes import PKI_DIR  # noqa: E402
from devstack.postgres import SERVICES, Cluster, start_embedded  # noqa: E402
from services.catalog import app as catalog_app  # noqa: E402
from services.customers import app as customers_app  # noqa: E402
from services.orders.usecases import Purchases  # noqa: E402
from services.runtime.auth import AuthSettings  # noqa: E402
from services.runtime.db import Database  # noqa: E402
from services.runtime.migrations import migrate  # noqa: E402
from services.runtime.server import Running, ServiceHost, start  # noqa: E402
from tests.support import MIGRATIONS, channel, common_settings, serve_orders  # noqa: E402


class LoopThread:
    """An asyncio event loop running in a daemon thread; `run` executes a coroutine on it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="service-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def issuer(tmp_path_factory) -> DevIssuer:
    """The tests' token issuer, with a real signing key: every service the tests start, in this
    process or as a process of its own (which inherits the environment), trusts it alone."""
    made = DevIssuer(tmp_path_factory.mktemp("auth")).ensure()
    os.environ.update(made.env())
    return made


@pytest.fixture(scope="session", autouse=True)
def pki(tmp_path_factory) -> DevPki:
    """The tests' development CA: each service the tests start gets its own certificate of it
    (start_service through RECORDSTORE_PKI_DIR, in-process ones through tls_as), and the tests'
    own clients the `client` identity, which is no service's."""
    made = DevPki(tmp_path_factory.mktemp("tls")).ensure()
    os.environ.update(made.env("client"), **{PKI_DIR: str(made.directory)})
    return made


def auth_settings_of(issuer: DevIssuer) -> AuthSettings:
    return AuthSettings(issuer.issuer, issuer.audience, jwks_file=issuer.jwks_path)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    return start_embedded(tmp_path_factory.mktemp("postgres") / "data").provision()


@dataclass
class Stack:
    cluster: Cluster
    customers: customers_pb2_grpc.CustomerServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    orders: orders_pb2_grpc.OrderServiceStub
    # The catalog as the orders service calls it (its certificate): the stock reservations.
    catalog_as_orders: catalog_pb2_grpc.CatalogServiceStub
    addresses: dict[str, str]
    databases: dict[str, Database]
    purchases: Purchases
    hosts: list[ServiceHost]
    loop: LoopThread
    issuer: DevIssuer
    staff_token: str
    # The token of each customer the tests signed up (support.create_customer), by customer id.
    tokens: dict[str, str]

    def run(self, coroutine, timeout: float = 60):
        """Runs a coroutine on the services' event loop (where their pools and channels live)."""
        return self.loop.run(coroutine, timeout)


async def start_services(cluster: Cluster, auth: AuthSettings):
    databases = {name: await Database(cluster.service_url(name), 10, f"test-{name}").open() for name in SERVICES}
    running = {module.APP.name: await start(module.APP, module.Settings(common_settings(module.APP.name, auth)),
                                            databases[module.APP.name])
               for module in (customers_app, catalog_app)}
    addresses = {name: f"127.0.0.1:{each.port}" for name, each in running.items()}
    # The session's orders service runs no recovery loop: the tests that need recovery drive it.
    running["orders"] = await serve_orders(databases["orders"], addresses["customers"], addresses["catalog"], auth=auth)
    addresses["orders"] = f"127.0.0.1:{running['orders'].port}"
    return databases, addresses, running


async def stop_services(running: dict[str, Running], databases: dict[str, Database]) -> None:
    for each in reversed(list(running.values())):
        await each.stop(grace=1)
    for database in databases.values():
        await database.close()


@pytest.fixture(scope="session")
def stack(cluster, issuer, pki) -> Stack:
    for name in SERVICES:
        migrate(cluster.service_url(name), name, MIGRATIONS[name])
    loop = LoopThread()
    databases, addresses, running = loop.run(start_services(cluster, auth_settings_of(issuer)))
    # The tests' stubs act as the staff unless a call says otherwise (support.buy acts as the buyer).
    staff_token = issuer.staff_token(ttl=24 * 3600)
    channels = {name: channel(address, staff_token) for name, address in addresses.items()}
    channels["catalog as orders"] = channel(addresses["catalog"], identity="orders")
    yield Stack(
        cluster=cluster,
        customers=customers_pb2_grpc.CustomerServiceStub(channels["customers"]),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),
        orders=orders_pb2_grpc.OrderServiceStub(channels["orders"]),
        catalog_as_orders=catalog_pb2_grpc.CatalogServiceStub(channels["catalog as orders"]),
        addresses=addresses,
        databases=databases,
        purchases=running["orders"].built.purchases,
        hosts=[each.host for each in running.values()],
        loop=loop,
        issuer=issuer,
        staff_token=staff_token,
        tokens={},
    )
    for each in channels.values():
        each.close()
    loop.run(stop_services(running, databases))
    loop.close()


# --- several replicas of each service --------------------------------------------------------

@dataclass
class Replicated:
    """A cluster of its own with `replicas` processes of each service, supervised (a process that
    dies is started again, as scripts/run does), and Envoy in front of them all."""

    cluster: Cluster
    services: "ServiceStack"
    supervisor: "Supervisor"
    gateway: "Gateway"

    def target(self, service: str) -> str:
        """A gRPC target naming every replica of `service` (a client balances with round_robin)."""
        from devstack.stack import grpc_target
        return grpc_target(self.services.replicas(service))

    def unit(self, instance: str):
        return next(unit for unit in self.supervisor.units if unit.name == instance)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory, issuer, pki):
    """Two replicas of each service (module-wide: it costs a PostgreSQL and seven processes)."""
    from devstack.gateway import start_gateway
    from devstack.loopback import free_address, free_port
    from devstack.postgres import stop_embedded
    from devstack.processes import serving, stop
    from devstack.stack import ServiceStack, instance_names
    from devstack.supervisor import RestartPolicy, Supervisor, Unit

    cluster = start_embedded(tmp_path_factory.mktemp("replicated") / "data").provision()
    addresses = {instance: free_address() for name in SERVICES for instance in instance_names(name, 2)}
    pool = {"DB_POOL_SIZE": "8"}
    services = ServiceStack(cluster, addresses, log_dir=tmp_path_factory.mktemp("replicated-logs"),
                            extra_env={"customers": pool, "catalog": pool,
                                       "orders": {**pool, "RECOVERY_INTERVAL_SECONDS": "0.2",
                                                  "RECOVERY_GRACE_SECONDS": "0.5"}})
    units = [Unit(instance, lambda instance=instance: services.launch(instance).process,
                  lambda address=address: serving(address, 0.3)) for instance, address in addresses.items()]
    # A slow start on a loaded machine is not a crash loop here: the tests kill on purpose.
    supervisor = Supervisor(units, RestartPolicy(first_delay=0.2, max_delay=1.0, give_up_after=1000))
    stopping, ready = threading.Event(), threading.Event()

    def supervise():
        # The children die with the thread that started them (setpriv --pdeathsig): this one.
        supervisor.start()
        try:
            while not stopping.is_set():
                supervisor.step()
                if all(unit.is_ready for unit in supervisor.units):
                    ready.set()
                stopping.wait(0.1)
        finally:
            stop(supervisor.handles(), grace=10)

    thread = threading.Thread(target=supervise, name="replicas-supervisor", daemon=True)
    thread.start()
    try:
        assert ready.wait(120), "the replicas did not all become SERVING"
        upstreams = {name: services.replicas(name) for name in SERVICES}
        gateway = start_gateway(free_address(), free_port(), upstreams, issuer, pki,
                                log_path=tmp_path_factory.mktemp("replicated-envoy") / "envoy.log")
        try:
            yield Replicated(cluster, services, supervisor, gateway)
        finally:
            stop([gateway.process])
    finally:
        stopping.set()
        thread.join(timeout=30)
        stop_embedded(cluster)
