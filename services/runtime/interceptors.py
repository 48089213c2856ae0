"""The one server interceptor: maps ServiceError to a rich status and logs one line per RPC."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
from grpc_status import rpc_status

from .db import CONNECTION_ERRORS
from .errors import ServiceError, to_rpc_status

log = logging.getLogger("rpc")
_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Servicers raise ServiceError and never abort; a client never sees a traceback."""

    def __init__(self):
        self._wrapped: dict[str, tuple] = {}  # method -> (its handler, the wrapped handler)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is None or known[0] is not handler:  # wrap once per method, not once per call
            known = self._wrapped[method] = (handler, self._wrap(method, handler))
        return known[1]

    @staticmethod
    def _wrap(method: str, handler):
        level = logging.DEBUG if method.startswith(_QUIET_PREFIXES) else logging.INFO
        inner = handler.unary_unary

        async def behavior(request, context):
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except ServiceError as error:
                code = error.code
                await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
            except CONNECTION_ERRORS as error:
                code = grpc.StatusCode.UNAVAILABLE
                log.warning("database unreachable in %s: %s", method, str(error).strip().splitlines()[0])
                await context.abort(code, "database unavailable, retry later")
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the client went away or its deadline passed
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error in %s", method)
                await context.abort(code, "internal error")
            finally:
                if log.isEnabledFor(level):
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    log.log(level, "rpc method=%s code=%s duration_ms=%.1f", method, code.name, elapsed_ms)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
