"""python -m devstack: PostgreSQL, the three services and the gateway, until Ctrl-C.

With no --database-url (nor DATABASE_URL) it starts the embedded PostgreSQL with its data in
.data/postgres, which survives restarts. With one (a superuser URL), it uses that server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .gateway import CorsSettings, check_origin, start_gateway
from .loopback import port_in_use
from .postgres import SERVICES, Cluster, start_embedded
from .processes import REPO_ROOT, stop
from .secrets import shared_env
from .stack import ServiceStack

log = logging.getLogger("devstack")



def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="superuser URL of an existing PostgreSQL (default: the embedded one)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres",
                        help="data directory of the embedded PostgreSQL (default: .data/postgres)")
    parser.add_argument("--host", default="127.0.0.1", help="address the services listen on")
    parser.add_argument("--base-port", type=int, default=50051,
                        help="customers listen on it, catalog on +1, orders on +2 (default 50051)")
    parser.add_argument("--gateway-port", type=int, default=8080, help="JSON gateway port (default 8080)")
    parser.add_argument("--admin-port", type=int, default=9901,
                        help="Envoy admin port, on loopback only (default 9901)")
    parser.add_argument("--no-gateway", action="store_true", help="run without Envoy (gRPC only)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="a web origin (https://shop.example.com) whose pages may call the gateway; "
                             "repeatable (default: http(s)://localhost and 127.0.0.1, any port)")
    parser.add_argument("--cors-credentials", action="store_true",
                        help="let those pages send cookies and Authorization along (off by default)")
    args = parser.parse_args(argv)
    for origin in args.cors_origin:
        try:
            check_origin(origin)
        except ValueError as error:
            parser.error(f"--cors-origin: {error}")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(levelname)s: %(message)s")
    args = parse_args(argv)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    ports = [args.base_port + i for i in range(len(SERVICES))]
    if not args.no_gateway:
        ports += [args.gateway_port, args.admin_port]
    taken = [port for port in ports if port_in_use(args.host, port)]
    if taken:
        log.error("port(s) %s already in use on %s: is another stack running?", taken, args.host)
        return 2

    if args.database_url:
        cluster = Cluster(admin_url=args.database_url)
        log.info("using the PostgreSQL at %s", args.database_url.split("@")[-1])
    else:
        cluster = start_embedded(args.data_dir)
        log.info("embedded PostgreSQL running, data in %s", cluster.data_dir)
    cluster = cluster.provision()

    addresses = {name: f"{args.host}:{args.base_port + i}" for i, name in enumerate(SERVICES)}
    services = ServiceStack(cluster, addresses, extra_env=shared_env(args.data_dir.parent, SERVICES))
    gateway = None
    try:
        services.start()
        for name, address in addresses.items():
            log.info("%s SERVING on %s", name, address)
        if not args.no_gateway:
            cors = CorsSettings(tuple(args.cors_origin), args.cors_credentials)
            gateway = start_gateway(f"{args.host}:{args.gateway_port}", args.admin_port, addresses, cors=cors)
            log.info("gateway (Envoy) serving JSON on %s", gateway.url)
        log.info("ready: customers %s, catalog %s, orders %s. Ctrl-C stops everything.",
                 addresses["customers"], addresses["catalog"], addresses["orders"])
        running = [s.process for s in services.processes.values()] + ([gateway.process] if gateway else [])
        while not stop_requested.wait(0.5):
            if any(p.poll() is not None for p in running):
                log.error("a process exited unexpectedly; stopping the stack")
                return 1
        return 0
    finally:
        log.info("stopping")
        codes = stop([gateway.process]) if gateway else {}
        codes.update(services.stop())
        log.info("stopped (exit codes %s)", sorted(codes.values()))


if __name__ == "__main__":
    sys.exit(main())
