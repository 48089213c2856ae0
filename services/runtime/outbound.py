"""The one interceptor on the calls a service makes to its peers: client metrics (and, with
tracing on, a client span whose context travels in the call's metadata as W3C traceparent)."""

from __future__ import annotations

import time

import grpc

from . import metrics, tracing


class Outbound(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self):
        self._methods: dict[str, metrics.MethodMetrics] = {}  # by path, bound at a method's first call

    def _measured(self, method: str | bytes) -> metrics.MethodMetrics:
        key = method.decode() if isinstance(method, bytes) else method
        measured = self._methods.get(key)
        if measured is None:
            measured = self._methods[key] = metrics.client_method(key)
        return measured

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        if not tracing.ENABLED:
            return await self._call(continuation, client_call_details, request)
        method = client_call_details.method
        with tracing.client_span(method.decode() if isinstance(method, bytes) else method) as (span, carrier):
            details = client_call_details._replace(
                metadata=grpc.aio.Metadata(*(client_call_details.metadata or ()), *carrier.items())
            )
            call = await self._call(continuation, details, request)
            tracing.client_code(span, await call.code())
            return call

    async def _call(self, continuation, client_call_details, request):
        measured = self._measured(client_call_details.method)
        measured.started.inc()
        started = time.perf_counter()
        call = await continuation(client_call_details, request)
        try:
            await call
        except grpc.RpcError:
            pass  # the caller awaits the same call and gets the error itself
        except BaseException:  # cancelled: the caller went away; counted as gRPC would name it
            measured.done(grpc.StatusCode.CANCELLED, time.perf_counter() - started)
            raise
        measured.done(await call.code(), time.perf_counter() - started)
        return call
