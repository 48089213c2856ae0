"""python -m services.runtime.healthcheck [host:port]: exit 0 when the server is SERVING.

For container health checks: with no argument it checks the server of this container, at the
port of LISTEN_ADDR on loopback.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import tls


def main(argv: list[str]) -> int:
    if argv:
        target = argv[0]
    else:
        target = "127.0.0.1:" + os.environ.get("LISTEN_ADDR", "").rpartition(":")[2]
    try:
        with tls.channel(target) as channel:  # as this container's service: mutual TLS only
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError as error:
        print(f"{target}: {error.code().name}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(f"{target}: {status}")
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
