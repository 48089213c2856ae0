"""How a service process logs: readable text (the default), or with LOG_FORMAT=json one JSON object
per line, carrying the trace and span ids of the RPC it was written in, for log pipelines that
join logs to traces. The access log (access_log.py) follows the same format and keeps its batching.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping

from opentelemetry import trace

from .access_log import ACCESS_LOG
from .config import ConfigError

FORMATS = ("text", "json")


def log_format(env: Mapping[str, str] = os.environ) -> str:
    value = env.get("LOG_FORMAT", "text").strip().lower() or "text"
    if value not in FORMATS:
        raise ConfigError(f"LOG_FORMAT={value!r} must be one of {', '.join(FORMATS)}")
    return value


def trace_ids() -> tuple[str, str] | None:
    """The current span's (trace id, span id) in hex, as OpenTelemetry writes them; None outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def utc_timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = trace_ids()
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(service: str, env: Mapping[str, str] = os.environ) -> None:
    """Sets up the root logger and the access log for this process (LOG_LEVEL, LOG_FORMAT)."""
    level = env.get("LOG_LEVEL", "INFO").upper()
    chosen = log_format(env)
    handler = logging.StreamHandler()
    if chosen == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else logging.INFO, handlers=[handler], force=True
    )
    ACCESS_LOG.configure(service, enabled=logging.getLogger("rpc").isEnabledFor(logging.INFO), json=chosen == "json")
