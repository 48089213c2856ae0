"""The per-RPC log line ("rpc method=... code=... duration_ms=..."), written in batches; with
LOG_FORMAT=json (logs.py) a JSON object with the RPC's trace and span ids instead.

A line through the logging module costs a LogRecord, a strftime and a write(2) per RPC, a
measurable share of a simple RPC (figures: docs/benchmarks.md). Here a line is one f-string into
a buffer, written out every FLUSH_SECONDS (and at shutdown); warnings and errors still go through
logging, at once. What a hard crash loses is the last FLUSH_SECONDS of access lines.
"""

from __future__ import annotations

import asyncio
import sys
import time

from opentelemetry import trace

FLUSH_SECONDS = 0.2


class AccessLog:
    def __init__(self, stream=None, service: str = ""):
        self._stream = stream
        self._prefix = f" {service} INFO rpc: " if service else " INFO rpc: "
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""
        self._flush_scheduled = False
        self.enabled = True
        self._json = False
        self._service = service

    def configure(self, service: str, enabled: bool, stream=None, json: bool = False) -> None:
        self._prefix = f" {service} INFO rpc: "
        self.enabled = enabled
        self._stream = stream
        self._json = json
        self._service = service

    def _timestamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:  # strftime once a second, not once a line
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def _json_line(self, method: str, code: str, duration_ms: float) -> str:
        # Method paths and code names are plain ASCII: no escaping needed, so no json.dumps per line.
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        context = trace.get_current_span().get_span_context()
        ids = f',"trace_id":"{context.trace_id:032x}","span_id":"{context.span_id:016x}"' if context.is_valid else ""
        return (
            f'{{"time":"{stamp}","level":"INFO","service":"{self._service}","logger":"rpc",'
            f'"message":"rpc method={method} code={code} duration_ms={duration_ms:.1f}",'
            f'"method":"{method}","code":"{code}","duration_ms":{duration_ms:.1f}{ids}}}\n'
        )

    def rpc(self, method: str, code: str, duration_ms: float) -> None:
        if not self.enabled:
            return
        if self._json:
            self._lines.append(self._json_line(method, code, duration_ms))
        else:
            self._lines.append(
                f"{self._timestamp()}{self._prefix}rpc method={method} code={code} duration_ms={duration_ms:.1f}\n"
            )
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop running: write now
                self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._lines:
            stream = self._stream or sys.stderr
            stream.write("".join(self._lines))
            stream.flush()
            self._lines.clear()


ACCESS_LOG = AccessLog()
