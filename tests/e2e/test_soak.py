"""The soak (bench/soak.py) for a few seconds, as the lead runs it for ten minutes: ordinary
browsing and buying through the real gateway beside message-less gRPC calls and idle
connections, and the stock invariant after it."""

from __future__ import annotations

import os

from bench.soak import Settings, run
from devstack.postgres import postmaster_pid
from devstack.processes import stop
from tests.e2e.conftest import launch


def test_a_short_soak_serves_ordinary_clients_beside_the_abuse_and_keeps_the_invariant(stack, cluster,
                                                                                      tmp_path_factory):
    gateway = launch(stack.addresses, tmp_path_factory, stack.issuer)
    try:
        passed, text = run(Settings(
            gateway=gateway.url.removeprefix("http://"), duration=4, clients=4, abusers=2, idle=20, discs=2,
            stock=20, issuer=stack.issuer, database_url=cluster.admin_url, seed=3,
            processes={"envoy": gateway.process.pid, "services (this process)": os.getpid(),
                       "postgres": postmaster_pid(cluster.data_dir)}))
        print(text)
        assert passed, text
        assert "ordinary requests 0:" not in text and "memory at end" in text
        assert "abusers' answers by grpc-status: {}" not in text
    finally:
        stop([gateway.process])
