"""python -m bench.loadgen: a gRPC load generator in its own process (grpc.aio).

Closed loop by default (each of --concurrency workers sends its next call when the previous one
answers); with --rate, open loop: calls are scheduled at that rate and latency is counted from
the scheduled time, so a stall is not hidden (no coordinated omission). Prints one JSON line:
requests, seconds, rps, latency percentiles in ms, and every status seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.latency import summary
from services.runtime import tls
from devstack.loopback import require_loopback
from devstack.stack import grpc_target


def make_call(args, channel):
    if args.mode == "health":
        # The service's own health Check: the same server, transport and event loop as every other
        # RPC, with no work behind it; the floor under any RPC's latency.
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        return lambda: stub.Check(request, timeout=10)
    rng = random.Random(args.seed)
    values = [line.strip() for line in open(args.values_file) if line.strip()]
    if args.mode == "purchase":
        # Each purchase made by its customer, with that customer's own token.
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        requests = [(orders_pb2.CreatePurchaseRequest(purchase=orders_pb2.Purchase(
            customer_id=customer, disc_id=disc, quantity=1)), (("authorization", f"Bearer {token}"),))
            for customer, disc, token in map(json.loads, values)]

        def purchase():
            request, metadata = rng.choice(requests)
            return stub.CreatePurchase(request, timeout=10, metadata=metadata)
        return purchase
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    if args.mode == "get-disc":
        return lambda: stub.GetDisc(catalog_pb2.GetDiscRequest(id=rng.choice(values)), timeout=10)
    if args.mode == "list-discs":
        def call():
            filters = json.loads(rng.choice(values))
            return stub.ListDiscs(catalog_pb2.ListDiscsRequest(page_size=args.page_size, **filters), timeout=10)
        return call
    raise SystemExit(f"unknown mode {args.mode}")


async def run(args) -> dict:
    addresses = [require_loopback(address) for address in args.target.split(",")]
    options = []
    if len(addresses) > 1:  # every replica, round robin; each must be the service it is called as
        options = [("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
                   ("grpc.ssl_target_name_override", "orders" if args.mode == "purchase" else "catalog")]
    target = grpc_target(addresses)
    channels = [tls.aio_channel(target, options=options) for _ in range(args.channels)]  # mutual TLS, as the bench's client
    calls = [make_call(args, channel) for channel in channels]
    samples: list[float] = []
    statuses: Counter = Counter()
    started = time.perf_counter()
    end = started + args.duration
    interval = args.concurrency / args.rate if args.rate else 0.0

    async def worker(index: int):
        call = calls[index % len(calls)]
        scheduled = started + (interval * index / args.concurrency if interval else 0.0)
        while True:
            if interval:
                scheduled += interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                begin = scheduled
            else:
                begin = time.perf_counter()
            if begin >= end or len(samples) >= args.max_requests:
                return
            try:
                await call()
                statuses["OK"] += 1
            except grpc.aio.AioRpcError as error:
                statuses[error.code().name] += 1
            samples.append((time.perf_counter() - begin) * 1000)

    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    for channel in channels:
        await channel.close()
    return {"requests": len(samples), "seconds": round(elapsed, 3), "rps": round(len(samples) / elapsed, 1),
            **summary(samples), "statuses": dict(statuses)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["purchase", "get-disc", "list-discs", "health"])
    parser.add_argument("--target", required=True, help="host:port (loopback), or several, comma-separated: replicas")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=10_000_000)
    parser.add_argument("--rate", type=float, help="requests per second, open loop")
    parser.add_argument("--values-file",
                        help="one per line: [customer_id, disc_id, the customer's token] (purchase), a disc id (get-disc), "
                             "JSON filters (list-discs); health needs none")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.mode != "health" and not args.values_file:
        parser.error(f"{args.mode} needs --values-file")
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
