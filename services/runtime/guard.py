"""The one place every RPC of ours passes: its one request read, decoded and checked
(request_checks.py), its caller let in (the service's Access, auth.py), its ServiceError made a
rich status, one log line, its metrics and its span. Servicers raise ServiceError and never
abort; a client never sees a traceback.

The handlers are built here, once, from the service's descriptor (`add_to_server`): not by the
generated add_*_to_server, nor by a grpc.aio server interceptor, which is awaited around every
call on top of the handler (its cost: docs/benchmarks.md).

A unary method is registered as a client-streaming one whose handler reads the request itself.
For a unary method, grpc.aio reads the request before any code of ours runs, and when the client
half-closes without one (HEADERS with END_STREAM, no DATA) it returns without answering: the call
waits for the client's deadline, forever without one, holding its memory. Read here, such a call
is answered INVALID_ARGUMENT (MISSING_REQUEST) at once: the client's mistake, named (gRPC's status
code table says UNIMPLEMENTED for a wrong number of messages, grpc-java answers INTERNAL). Exactly
one message is read, as grpc's own unary handling does: one sent after it is never looked at and
goes when the call ends with its answer (waiting to see the client half-close would let a client
that never does hold the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_status import rpc_status

from . import metrics, tracing
from .access_log import ACCESS_LOG
from .auth import CURRENT, Access
from .db import CONNECTION_ERRORS
from .errors import DeadlineExceeded, InvalidArgument, ServiceError, Unavailable, to_rpc_status
from .request_checks import decode

log = logging.getLogger("rpc")


class Admission:
    """Whether one server still starts the RPCs it is handed, how many it is running, and when it
    was last handed one.

    At shutdown a server first stops admitting (new RPCs answer UNAVAILABLE at once: safe to
    retry, elsewhere or later) and only then stops gRPC core, because core cancels every call it
    has received but not yet handed to Python: those clients would get CANCELLED, which they do
    not retry, for calls nobody ever started. A stream that would run for as long as its client
    stays (runtime/feed.py) ends when `stopping` is set, at the start of the drain.
    """

    def __init__(self):
        self.open = True
        self.in_flight = 0
        self.last_rpc = time.monotonic()
        self.stopping = asyncio.Event()


# Each server's own Admission, seen by its RPCs: runtime.server sets it around server.start(),
# and grpc.aio creates every RPC's task from the serving task that start() creates, so each task
# inherits the context of its own server (several servers share a process in tests).
ADMISSION: contextvars.ContextVar[Admission | None] = contextvars.ContextVar("admission", default=None)


def add_to_server(
    server: grpc.aio.Server, servicer: object, access: Access, only: Collection[str] | None = None
) -> None:
    """Serves every method of `access.service` (or those named in `only`) on `server`, behind the
    guard: the servicer's coroutine method of the same name, or its async generator for a
    server-streaming method (the change feeds), whose replies are written as it yields them."""
    service = access.service
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        if only is not None and method.name not in only:
            continue
        behavior = getattr(servicer, method.name, None)
        if method.client_streaming:
            raise TypeError(f"{service.full_name}/{method.name}: the guard serves no client-streaming method")
        wanted = inspect.isasyncgenfunction if method.server_streaming else inspect.iscoroutinefunction
        if not wanted(behavior):
            kind = "async generator" if method.server_streaming else "coroutine method"
            raise TypeError(f"{type(servicer).__name__} has no {kind} {method.name}")
        assert behavior is not None  # checked above: a coroutine method or an async generator
        call = _Method(method, behavior, access)
        serialize = GetMessageClass(method.output_type).SerializeToString
        if method.server_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(call.stream, response_serializer=serialize)
        else:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(call.unary, response_serializer=serialize)
    server.add_registered_method_handlers(service.full_name, handlers)


# A call's request message arrives within this time of the call, or the call ends: a client that
# opens calls and sends half a message (or none, without ending its side) holds nothing longer.
REQUEST_READ_SECONDS = 10.0
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class _Method:
    """One method of ours, as every call of it is served."""

    __slots__ = ("access", "behavior", "log_ok", "measured", "name", "path", "request_class")

    def __init__(self, method: MethodDescriptor, behavior: Callable[..., Any], access: Access):
        self.name = method.name
        self.path = f"/{method.containing_service.full_name}/{method.name}"
        self.request_class = GetMessageClass(method.input_type)
        self.behavior = behavior
        self.access = access
        self.measured = metrics.server_method(self.path)  # its label children, bound once
        # A health check that answers OK is counted, not logged: the gateway and the probes ask
        # every second, and their lines would bury the callers'.
        self.log_ok = self.path != HEALTH_CHECK

    async def unary(self, _requests, context):
        if not tracing.ENABLED:
            return await self._serve(context, self.behavior)
        with tracing.server_span(self.path, context):
            return await self._serve(context, self.behavior)

    async def stream(self, _requests, context) -> None:
        """A server-streaming call: each reply written as the behaviour yields it (no span: a
        stream lasts as long as its reader stays)."""

        async def write_each(request, context) -> None:
            async with contextlib.aclosing(self.behavior(request, context)) as replies:
                async for reply in replies:
                    await context.write(reply)

        await self._serve(context, write_each)

    async def _serve(self, context, run: Callable[..., Awaitable]):
        """Admits the call's caller, reads its one request, and awaits `run(request, context)`."""
        started = time.perf_counter()
        measured = self.measured
        measured.started.inc()
        admission = ADMISSION.get()
        running = None  # the Admission counting this RPC in flight, once its request is in
        code = grpc.StatusCode.OK
        try:
            if admission is not None:
                admission.last_rpc = time.monotonic()
                if not admission.open:
                    raise Unavailable("the server is shutting down, retry", "SHUTTING_DOWN")
            # Who may call is answered before what the request holds: a caller the method's rule
            # refuses learns nothing of which requests the service would take.
            CURRENT.set(await self.access.caller(self.name, context))  # this RPC's own task: no other call sees it
            try:
                async with asyncio.timeout(REQUEST_READ_SECONDS):
                    raw = await context.read()
            except TimeoutError:
                raise DeadlineExceeded(
                    f"the request message did not arrive within {REQUEST_READ_SECONDS:g} s of the call",
                    "REQUEST_TIMEOUT",
                ) from None
            if raw is grpc.aio.EOF:
                raise InvalidArgument("request", "is missing: the call ended without its message", "MISSING_REQUEST")
            request = decode(self.request_class, raw)
            if admission is not None:
                running = admission
                running.in_flight += 1
            return await run(request, context)
        except ServiceError as error:
            code = error.code
            if code == grpc.StatusCode.INTERNAL:  # ours, not the caller's (a peer's or the database's refusal)
                log.error("%s failed: %s (%s)", self.path, error.message, error.reason)
            await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
        except CONNECTION_ERRORS as error:
            code = grpc.StatusCode.UNAVAILABLE
            log.warning("database unreachable in %s: %s", self.path, str(error).strip().splitlines()[0])
            await context.abort(code, "database unavailable, retry later")
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED  # the client went away or its deadline passed
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", self.path)
            await context.abort(code, "internal error")
        finally:
            if running is not None:
                running.in_flight -= 1
            elapsed = time.perf_counter() - started
            measured.done(code, elapsed)
            if self.log_ok or code != grpc.StatusCode.OK:
                ACCESS_LOG.rpc(self.path, code.name, elapsed * 1000)
            if tracing.ENABLED:
                tracing.server_code(code)
