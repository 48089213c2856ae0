"""python -m tests.deploy.health_server SERVING|NOT_SERVING: a service's gRPC server (mutual TLS
from this process's TLS_* files, health and reflection, as services/runtime/server.py builds it)
with no servicer of its own, on a free loopback port, which it prints; it serves until killed.

In a process of its own, so that the test that probes it forks no process while gRPC threads
run in its own (FACTS: the child may crash).
"""

from __future__ import annotations

import asyncio
import sys

from grpc_health.v1 import health_pb2

from services.runtime.server import create_server


async def main(status: str) -> None:
    host = create_server("127.0.0.1:0", [], lambda server: None, database=None)
    await host.start()
    await host.health.set("", health_pb2.HealthCheckResponse.ServingStatus.Value(status))
    print(host.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
