"""LOG_FORMAT=json: one JSON object per line, with the trace and span ids of the span it was written
in; the access log's batched lines too. Text stays the default."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.runtime.access_log import AccessLog
from services.runtime.config import ConfigError
from services.runtime.logs import JsonFormatter, log_format

TRACER = TracerProvider().get_tracer("test")  # a real SDK span, exported nowhere


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("services.orders", level, __file__, 1, message, (), None)


def test_the_format_is_text_unless_json_is_asked_for_and_nothing_else_is_taken():
    assert log_format({}) == "text"
    assert log_format({"LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        log_format({"LOG_FORMAT": "yaml"})


def test_a_json_line_inside_a_span_carries_its_trace_and_span_ids():
    with TRACER.start_as_current_span("rpc") as span:
        line = JsonFormatter("orders").format(record('purchase "x" failed'))
    entry = json.loads(line)
    context = span.get_span_context()
    assert entry["trace_id"] == f"{context.trace_id:032x}" and entry["span_id"] == f"{context.span_id:016x}"
    assert (entry["service"], entry["level"], entry["logger"]) == ("orders", "INFO", "services.orders")
    assert entry["message"] == 'purchase "x" failed' and entry["time"].endswith("Z")


def test_a_json_line_outside_a_span_has_no_ids():
    entry = json.loads(JsonFormatter("orders").format(record("started")))
    assert "trace_id" not in entry and "span_id" not in entry


def test_the_access_log_writes_json_lines_in_one_batch():
    stream = io.StringIO()
    access = AccessLog()
    access.configure("catalog", enabled=True, stream=stream, json=True)

    async def two_rpcs():
        with TRACER.start_as_current_span("rpc") as span:
            access.rpc("/recordstore.catalog.v1.CatalogService/GetDisc", "OK", 1.234)
        access.rpc("/recordstore.catalog.v1.CatalogService/ListDiscs", "NOT_FOUND", 0.5)
        assert stream.getvalue() == ""  # batched: written by the flush the loop has scheduled
        access.flush()
        return span

    span = asyncio.run(two_rpcs())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["method"].rsplit("/", 1)[1] for line in lines] == ["GetDisc", "ListDiscs"]
    assert lines[0]["trace_id"] == f"{span.get_span_context().trace_id:032x}" and "trace_id" not in lines[1]
    assert (lines[0]["code"], lines[0]["duration_ms"], lines[0]["service"]) == ("OK", 1.2, "catalog")


def test_text_stays_the_default_line():
    stream = io.StringIO()
    access = AccessLog()
    access.configure("catalog", enabled=True, stream=stream)
    access.rpc("/x.Y/Z", "OK", 2.0)
    access.flush()
    assert stream.getvalue().endswith(" catalog INFO rpc: rpc method=/x.Y/Z code=OK duration_ms=2.0\n")
