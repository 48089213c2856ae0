"""python -m bench.gateway_flood: what a flood of hostile clients costs the gateway, in figures.

Against a running gateway (scripts/run; loopback only), for --seconds seconds at most: clients
streaming large bodies without end, clients trickling a body byte by byte, clients holding idle
connections, and one ordinary client reading a disc throughout. It prints Envoy's memory (its
admin /memory: bytes allocated and heap) before, at the peak during and after the flood, and the
ordinary client's latency and errors. Everything it opens it closes; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
import urllib.request

from devstack.latency import summary
from devstack.loopback import require_loopback


def envoy_memory(admin: str) -> int:
    with urllib.request.urlopen(f"{admin}/memory", timeout=5) as reply:
        return int(json.loads(reply.read())["allocated"])


# What each kind of hostile client sends: its request head, then one piece after another.
ENDLESS_BODY = (b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n", b"10000\r\n" + b" " * 0x10000 + b"\r\n", 0.0)
TRICKLED_BODY = (b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 60000\r\n\r\n", b" ", 0.5)


def hostile_client(host, port, kind: tuple, stop: threading.Event, counts: dict, counter: str) -> None:
    """Sends `kind` again and again on new connections until `stop`; counts connections cut."""
    head, piece, pause = kind
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=2) as sock:
                sock.sendall(head)
                while not stop.is_set():
                    sock.sendall(piece)
                    counts["bytes"] += len(piece)
                    time.sleep(pause)
        except OSError:
            counts[counter] += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default="127.0.0.1:8080")
    parser.add_argument("--admin", default="127.0.0.1:9901")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--streamers", type=int, default=16, help="clients streaming endless bodies")
    parser.add_argument("--tricklers", type=int, default=50, help="clients trickling a body")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open")
    args = parser.parse_args(argv)
    host, port = require_loopback(args.gateway).rsplit(":", 1)
    port = int(port)
    admin = f"http://{require_loopback(args.admin)}"
    args.seconds = min(args.seconds, 120.0)

    before = envoy_memory(admin)
    stop = threading.Event()
    counts = {"bytes": 0, "refused": 0, "cut": 0}
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(args.idle)]
    threads = [threading.Thread(target=hostile_client, args=(host, port, ENDLESS_BODY, stop, counts, "refused"),
                                daemon=True) for _ in range(args.streamers)]
    threads += [threading.Thread(target=hostile_client, args=(host, port, TRICKLED_BODY, stop, counts, "cut"),
                                 daemon=True) for _ in range(args.tricklers)]
    for thread in threads:
        thread.start()
    peak, latencies, errors = before, [], 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/v1/discs?page_size=1", timeout=5) as reply:
                reply.read()
            latencies.append((time.perf_counter() - started) * 1000)
        except OSError:
            errors += 1
        peak = max(peak, envoy_memory(admin))
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    for sock in idle:
        sock.close()
    time.sleep(1.0)
    after = envoy_memory(admin)

    mib = 1024 * 1024
    print(f"flood: {args.streamers} endless bodies ({counts['bytes'] / mib:,.0f} MiB sent, "
          f"{counts['refused']} connections refused or closed), {args.tricklers} trickled bodies "
          f"({counts['cut']} cut), {args.idle} idle connections, {args.seconds:g} s")
    print(f"envoy memory allocated: before {before / mib:.1f} MiB, peak {peak / mib:.1f} MiB, "
          f"after {after / mib:.1f} MiB")
    if latencies:
        figures = summary(latencies)
        print(f"ordinary client during the flood: {len(latencies)} answers, {errors} errors, "
              f"p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, max {max(latencies):.1f} ms, "
              f"mean {statistics.mean(latencies):.1f} ms")
    else:
        print(f"ordinary client during the flood: no answer, {errors} errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
