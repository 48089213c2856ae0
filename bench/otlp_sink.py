"""python -m bench.otlp_sink ADDRESS: an OTLP/gRPC trace receiver that counts spans and keeps none.

What the services export to while the benchmark measures tracing's cost: a real collector's
protocol, without a collector's own CPU in the figures. Prints the spans received at exit.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.spans = 0
        self._lock = threading.Lock()

    def Export(self, request, context):
        count = sum(len(scope.spans) for each in request.resource_spans for scope in each.scope_spans)
        with self._lock:
            self.spans += count
        return trace_service_pb2.ExportTraceServiceResponse()


def main(argv=None) -> int:
    address = (argv or sys.argv[1:] or ["127.0.0.1:4317"])[0]
    sink = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"cannot listen on {address}")
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(1)
    print(f"otlp sink: {sink.spans} spans received", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
