"""The one wrapper every RPC runs in: ServiceError becomes a rich status, one log line per RPC.

It also decides who may call the method (the service's access rules, see auth.py) before the
method runs, and hands the method its Caller (auth.current_caller()).

Applied to a servicer class (`@guarded(SERVICE_NAME, ACCESS)`) rather than as a grpc.aio server
interceptor, which is awaited around every call on top of the handler (its cost: docs/benchmarks.md).
Servicers raise ServiceError and never abort; a client never sees a traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import time

import grpc
from grpc_status import rpc_status

from . import metrics, tracing
from .access_log import ACCESS_LOG
from .auth import CURRENT, Rule
from .db import CONNECTION_ERRORS
from .errors import ServiceError, to_rpc_status
from .request_checks import Rejected

log = logging.getLogger("rpc")


class Admission:
    """Whether one server still starts the RPCs it is handed, how many it is running, and when it
    was last handed one.

    At shutdown a server first stops admitting (new RPCs answer UNAVAILABLE at once: safe to
    retry, elsewhere or later) and only then stops gRPC core, because core cancels every call it
    has received but not yet handed to Python: those clients would get CANCELLED, which they do
    not retry, for calls nobody ever started.
    """

    def __init__(self):
        self.open = True
        self.in_flight = 0
        self.last_rpc = time.monotonic()


# Each server's own Admission, seen by its RPCs: runtime.server sets it around server.start(),
# and grpc.aio creates every RPC's task from the serving task that start() creates, so each task
# inherits the context of its own server (several servers share a process in tests).
ADMISSION: contextvars.ContextVar[Admission | None] = contextvars.ContextVar("admission", default=None)


def guarded(service_name: str, access: dict[str, Rule]):
    """Class decorator: wraps every RPC method (the public coroutine methods) of a servicer.

    `access` names the rule of every method: a method without one is an error at import, so no
    method is ever open by omission. The servicer's `authenticator` attribute verifies tokens.
    """

    def decorate(cls):
        for name, method in list(vars(cls).items()):
            if inspect.iscoroutinefunction(method) and name[:1].isupper():
                if name not in access:
                    raise TypeError(f"{service_name}/{name} has no access rule")
                setattr(cls, name, _guard(f"/{service_name}/{name}", method, access[name]))
        return cls

    return decorate


def _guard(path: str, method, rule: Rule):
    measured = metrics.server_method(path)  # its label children, bound once

    @functools.wraps(method)
    async def rpc(self, request, context):
        started = time.perf_counter()
        measured.started.inc()
        admission = ADMISSION.get()
        if admission is not None:
            admission.last_rpc = time.monotonic()
            if not admission.open:
                elapsed = time.perf_counter() - started
                measured.done(grpc.StatusCode.UNAVAILABLE, elapsed)
                ACCESS_LOG.rpc(path, grpc.StatusCode.UNAVAILABLE.name, elapsed * 1000)
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down, retry")
            admission.in_flight += 1
        code = grpc.StatusCode.OK
        try:
            caller = await self.authenticator.caller(context)
            if rule.service is not None:  # read the peer's certificate only where it decides
                caller = dataclasses.replace(caller, service=self.authenticator.service(context))
            rule.check(caller, path.rsplit("/", 1)[1])
            if request.__class__ is Rejected:  # refused on arrival (request_checks.py): after who may call
                raise request.error
            CURRENT.set(caller)  # this RPC's own task: no other call sees it
            return await method(self, request, context)
        except ServiceError as error:
            code = error.code
            if code == grpc.StatusCode.INTERNAL:  # ours, not the caller's (a peer's or the database's refusal)
                log.error("%s failed: %s (%s)", path, error.message, error.reason)
            await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))
        except CONNECTION_ERRORS as error:
            code = grpc.StatusCode.UNAVAILABLE
            log.warning("database unreachable in %s: %s", path, str(error).strip().splitlines()[0])
            await context.abort(code, "database unavailable, retry later")
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED  # the client went away or its deadline passed
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", path)
            await context.abort(code, "internal error")
        finally:
            if admission is not None:
                admission.in_flight -= 1
            elapsed = time.perf_counter() - started
            measured.done(code, elapsed)
            ACCESS_LOG.rpc(path, code.name, elapsed * 1000)
            if tracing.ENABLED:
                tracing.server_code(code)

    @functools.wraps(method)
    async def traced(self, request, context):
        if not tracing.ENABLED:
            return await rpc(self, request, context)
        with tracing.server_span(path, context):
            return await rpc(self, request, context)

    traced.answers_rejected = True  # type: ignore[attr-defined]  # request_checks.checked_handler reads it
    return traced
