"""PAGE_TOKEN_SECRET as the service processes read it: too short stops the start; shared, a token
outlives a restart; another secret refuses it."""

import os
import subprocess
import sys
from contextlib import contextmanager

import grpc
import pytest
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from devstack.loopback import free_address
from devstack.processes import REPO_ROOT, start_service, stop, wait_serving
from tests.support import channel, create_disc, raises_status, unique

pytestmark = pytest.mark.slow


def test_a_short_secret_stops_the_start_with_its_name(cluster):
    env = {**os.environ, "LISTEN_ADDR": "127.0.0.1:0", "DATABASE_URL": cluster.service_url("catalog"),
           "PAGE_TOKEN_SECRET": "too short"}
    result = subprocess.run([sys.executable, "-m", "services.catalog"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "PAGE_TOKEN_SECRET" in result.stderr and "Traceback" not in result.stderr


@contextmanager
def catalog_process(cluster, address: str, secret: str = "", **env: str):
    service = start_service("catalog", address, cluster.service_url("catalog"), {"PAGE_TOKEN_SECRET": secret, **env})
    try:
        wait_serving(address, timeout=60, process=service.process)
        yield
    finally:
        assert stop([service.process]) == {service.process.pid: 0}


def test_a_token_outlives_a_restart_with_the_same_secret_only(cluster, stack):
    artist = unique("Restart")
    for _ in range(2):
        create_disc(stack, artist=artist)
    address = free_address()

    def list_after(token: str) -> catalog_pb2.ListDiscsResponse:
        with channel(address) as anonymous:
            return catalog_pb2_grpc.CatalogServiceStub(anonymous).ListDiscs(
                catalog_pb2.ListDiscsRequest(artist=artist, page_size=1, page_token=token), timeout=10)

    with catalog_process(cluster, address, "a" * 64):
        token = list_after("").next_page_token
    with catalog_process(cluster, address, "a" * 64):
        assert len(list_after(token).discs) == 1
    with catalog_process(cluster, address, "b" * 64):
        with raises_status(grpc.StatusCode.INVALID_ARGUMENT, "page_token", "INVALID_PAGE_TOKEN"):
            list_after(token)


def test_replicas_reading_one_key_file_take_each_others_tokens(cluster, stack, tmp_path):
    """As under docker-compose: the credentials step writes page-token.key into each service's volume."""
    artist = unique("Replicas")
    for _ in range(2):
        create_disc(stack, artist=artist)
    key = tmp_path / "page-token.key"
    key.write_text("c" * 64)
    first, second = free_address(), free_address()

    def list_at(address: str, token: str) -> catalog_pb2.ListDiscsResponse:
        with channel(address) as anonymous:
            return catalog_pb2_grpc.CatalogServiceStub(anonymous).ListDiscs(
                catalog_pb2.ListDiscsRequest(artist=artist, page_size=1, page_token=token), timeout=10)

    with catalog_process(cluster, first, PAGE_TOKEN_SECRET_FILE=str(key), DB_POOL_SIZE="4"), \
            catalog_process(cluster, second, PAGE_TOKEN_SECRET_FILE=str(key), DB_POOL_SIZE="4"):
        token = list_at(first, "").next_page_token
        assert len(list_at(second, token).discs) == 1
