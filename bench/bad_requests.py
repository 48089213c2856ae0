"""python -m bench.bad_requests: what a client sending bad requests costs everyone else.

GetDisc at full rate (bench.loadgen, closed loop, in its own process) for --duration seconds,
alone, then again while this process sends ListDiscs with a NUL in its title filter at --bad-rate
a second. A NUL used to reach psycopg2, whose ValueError made the pool close and reopen every
connection. It prints one JSON line per phase: GetDisc's rate and latency, the statuses of the
bad requests, and how many database sessions were opened (pg_stat_database.sessions) meanwhile.

Its own embedded PostgreSQL (a temporary data directory) and services, loopback only, bounded by
--duration. Run it from another checkout's root to measure that checkout's services.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import psycopg2
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from devstack.credentials import DevIssuer
from devstack.loopback import free_address, require_loopback
from devstack.pki import DevPki
from devstack.postgres import start_embedded, stop_embedded
from devstack.processes import PKI_DIR, REPO_ROOT
from devstack.stack import ServiceStack
from services.runtime import tls

from .seed import number_id, seed


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sessions(admin) -> int:
    """Sessions ever opened on the services' database (PostgreSQL 14+ counts them)."""
    with admin.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = 'recordstore'")
        return cursor.fetchone()[0]


def settled_sessions(admin, timeout: float = 5.0) -> int:
    """pg_stat_database as it stands once the backends have flushed their counters (they do so
    within a second of going idle): read until two reads a second apart agree."""
    deadline = time.monotonic() + timeout
    last = sessions(admin)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sessions(admin)
        if now == last:
            return now
        last = now
    return last


def send_bad_requests(target: str, rate: float, until: float) -> Counter:
    """ListDiscs with a NUL in a filter at `rate` a second (open loop) until `until`."""
    statuses: Counter = Counter()
    with tls.channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        request = catalog_pb2.ListDiscsRequest(title="a\x00b")
        scheduled = time.monotonic()
        while scheduled < until:
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                stub.ListDiscs(request, timeout=5)
                statuses["OK"] += 1
            except grpc.RpcError as error:
                statuses[error.code().name] += 1
            scheduled += 1 / rate
    return statuses


def phase(args, target: str, values_file: Path, admin, bad_rate: float) -> dict:
    before = settled_sessions(admin)
    command = [sys.executable, "-m", "bench.loadgen", "get-disc", "--target", target, "--values-file",
               str(values_file), "--concurrency", str(args.concurrency), "--duration", str(args.duration)]
    # The load generator starts before this process opens any channel (forking beside live gRPC
    # threads can crash the child).
    loadgen = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    bad = send_bad_requests(target, bad_rate, time.monotonic() + args.duration) if bad_rate else Counter()
    output, _ = loadgen.communicate(timeout=args.duration + 60)
    if loadgen.returncode != 0:
        raise RuntimeError("the load generator failed")
    result = json.loads(output)
    return {"bad_rate": bad_rate, "get_disc_rps": result["rps"], "p50": result["p50"], "p99": result["p99"],
            "get_disc_statuses": result["statuses"], "bad_statuses": dict(bad),
            "new_sessions": settled_sessions(admin) - before}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bad_requests", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase (default 8)")
    parser.add_argument("--bad-rate", type=float, default=35.0, help="bad requests a second (default 35)")
    parser.add_argument("--concurrency", type=int, default=16, help="GetDisc callers (default 16)")
    parser.add_argument("--discs", type=int, default=2000, help="discs seeded (default 2000)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or not 0 < args.bad_rate <= 1000:
        parser.error("--duration must be in (0, 60] and --bad-rate in (0, 1000]")

    with tempfile.TemporaryDirectory(prefix="bench-bad-requests-") as workdir:
        cluster = start_embedded(Path(workdir) / "pg").provision()
        addresses = {name: free_address() for name in ("customers", "catalog", "orders")}
        issuer = DevIssuer(Path(workdir) / "auth").ensure()
        pki = DevPki(Path(workdir) / "tls").ensure()
        os.environ.update(pki.env("client"), **{PKI_DIR: str(pki.directory)})
        stack = ServiceStack(cluster, addresses, log_dir=Path(workdir), auth_env=issuer.env())
        admin = None
        try:
            stack.start()
            seed(cluster, args.discs, log)
            target = require_loopback(addresses["catalog"])
            values_file = Path(workdir) / "get-disc.values"
            values_file.write_text("\n".join(number_id(n) for n in range(1, args.discs + 1)) + "\n")
            admin = psycopg2.connect(cluster.in_database("recordstore").admin_url)
            admin.autocommit = True  # each read its own snapshot of the statistics
            log(f"services from {REPO_ROOT}; GetDisc alone, then with {args.bad_rate:g} bad requests/s")
            for bad_rate in (0.0, args.bad_rate):
                print(json.dumps(phase(args, target, values_file, admin, bad_rate)), flush=True)
        finally:
            if admin is not None:
                admin.close()
            stack.stop()
            stop_embedded(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
