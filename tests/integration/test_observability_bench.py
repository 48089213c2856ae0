"""The benchmark's OTLP sink (bench/otlp_sink.py) takes spans as a collector does and counts them."""

from __future__ import annotations

import signal
import subprocess
import sys

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from devstack.loopback import free_address
from devstack.processes import REPO_ROOT


def test_the_sink_counts_the_spans_it_is_sent():
    address = free_address()
    sink = subprocess.Popen([sys.executable, "-m", "bench.otlp_sink", address], cwd=REPO_ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        stub = trace_service_pb2_grpc.TraceServiceStub(grpc.insecure_channel(address))
        spans = [trace_pb2.Span(name=f"s{i}", trace_id=bytes(16), span_id=bytes([i + 1]) * 8) for i in range(3)]
        request = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])])
        stub.Export(request, timeout=10, wait_for_ready=True)
    finally:
        sink.send_signal(signal.SIGTERM)
        _, err = sink.communicate(timeout=10)
    assert sink.returncode == 0
    assert "3 spans received" in err
