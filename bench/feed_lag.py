"""python -m bench.feed_lag: how long after its commit a purchase's event reaches a reader of the
orders feed (docs/feed.md), while the benchmark buys at its peak.

One reader, in a process of its own, from --after (the feed's end when the phase starts) for
--duration seconds: for each event, the moment it arrived less its event_time, which the
statement of the change wrote just before its commit. Both clocks are this host's. Prints one
JSON line: events, and the lag's percentiles in ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from devstack.latency import summary
from devstack.loopback import require_loopback
from services.runtime import tls


def follow(target: str, token: str, after: str, duration: float) -> dict:
    lags: list[float] = []
    with tls.channel(require_loopback(target)) as channel:
        call = orders_pb2_grpc.OrderServiceStub(channel).WatchPurchaseEvents(
            orders_pb2.WatchPurchaseEventsRequest(after_cursor=after), metadata=(("authorization", f"Bearer {token}"),))
        timer = threading.Timer(duration, call.cancel)
        timer.start()
        try:
            for event in call:
                arrived = time.time()
                if event.type != orders_pb2.PurchaseEvent.HEARTBEAT:
                    lags.append((arrived - event.event_time.ToNanoseconds() / 1e9) * 1000)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:  # the timer's: the end of the phase
                raise
        finally:
            timer.cancel()
    return {"events": len(lags), **summary(lags)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_lag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="the orders service, host:port (loopback)")
    parser.add_argument("--token", required=True, help="a staff bearer token")
    parser.add_argument("--after", default="", help="the cursor to start after (the feed's end)")
    parser.add_argument("--duration", type=float, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(follow(args.target.split(",")[0], args.token, args.after, args.duration)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
