"""The orders service spreads its calls to a peer over all of the peer's replicas (gRPC's
round_robin over every address its target names), and still checks each one's identity."""

import collections
import uuid

import pytest

from services.catalog.repository import store as catalog_store
from services.catalog.servicer import SERVICE_NAME as CATALOG_SERVICE_NAME
from services.catalog.servicer import CatalogServicer
from services.catalog.usecases import Catalog
from services.orders.clients import CatalogClient
from services.runtime.errors import NotFound, Unavailable
from services.runtime.server import create_server
from tests.support import adding, tls_as, unwatched_feed


class CountedCatalog(CatalogServicer):
    """The real catalog, counting the ReleaseStock calls each replica gets."""

    calls: collections.Counter
    replica: str

    async def ReleaseStock(self, request, context):
        self.calls[self.replica] += 1
        return await super().ReleaseStock(request, context)


async def start_replicas(stack, identities):
    calls = collections.Counter()
    hosts = []
    for index, identity in enumerate(identities):
        servicer = CountedCatalog(Catalog(catalog_store(stack.databases["catalog"])), unwatched_feed(stack, "catalog"))
        servicer.calls, servicer.replica = calls, f"{identity}-{index}"
        host = create_server("127.0.0.1:0", [CATALOG_SERVICE_NAME],
                             adding(servicer), None, tls_files=tls_as(identity))
        await host.start()
        hosts.append(host)
    return hosts, calls


def target_of(hosts) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{host.port}" for host in hosts)


async def release_unknown(target: str, times: int) -> collections.Counter:
    """`times` ReleaseStock calls of unknown reservations (NOT_FOUND, harmless) through one client."""
    client = CatalogClient(target, tls_as("orders"))
    outcomes = collections.Counter()
    try:
        for _ in range(times):
            try:
                await client.release_stock(str(uuid.uuid4()), timeout=5)
            except (NotFound, Unavailable) as error:
                outcomes[type(error).__name__] += 1
    finally:
        await client.close()
    return outcomes


@pytest.fixture
def replicas(stack):
    started = []

    def start(*identities):
        hosts, calls = stack.run(start_replicas(stack, identities))
        started.extend(hosts)
        return hosts, calls

    yield start
    for host in started:
        stack.run(host.stop(0))


def test_calls_to_a_peer_are_spread_over_every_replica_its_target_names(stack, replicas):
    hosts, calls = replicas("catalog", "catalog", "catalog")
    outcomes = stack.run(release_unknown(target_of(hosts), 30))
    assert outcomes == {"NotFound": 30}
    # Round robin over the ready connections: the first calls may go before all three are up.
    assert len(calls) == 3 and min(calls.values()) >= 5, calls


def test_a_replica_with_another_service_s_certificate_gets_no_call(stack, replicas):
    hosts, calls = replicas("catalog", "customers")
    outcomes = stack.run(release_unknown(target_of(hosts), 10))
    assert outcomes == {"NotFound": 10}
    assert calls == {"catalog-0": 10}


def test_a_peer_that_is_not_the_catalog_is_refused_in_the_handshake(stack, replicas):
    hosts, calls = replicas("customers")
    outcomes = stack.run(release_unknown(target_of(hosts), 2))
    assert outcomes == {"Unavailable": 2} and not calls
