"""Checks every request gets as it is deserialized: each string field valid UTF-8, without NUL.

Both used to reach deeper layers and fail there: protobuf's DecodeError on invalid UTF-8 became a
non-4xx status naming a Python exception, and PostgreSQL, which refuses NUL in text, turned a NUL
into a 500. Here, once for every method of every service, they are INVALID_ARGUMENT naming the
field (reasons INVALID_UTF8, NUL_CHARACTER), before any servicer code runs.

The handlers are replaced once, when the servicers register (`checked_registration`), not by a
server interceptor, which is awaited around every call (see guard.py). A request without a single
0 byte cannot hold a NUL, so most are never walked: a small fraction of a round trip (figures:
docs/benchmarks.md).
"""

from __future__ import annotations

import time

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from .access_log import ACCESS_LOG
from .errors import InvalidArgument, to_rpc_status

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


class Rejected:
    """What the deserializer hands the handler in place of a request it refused."""

    __slots__ = ("error", "since")

    def __init__(self, error: InvalidArgument):
        self.error = error
        self.since = time.perf_counter()


def check_request(message_class, raw: bytes):
    """The request `raw` encodes, or a Rejected naming the field that is not acceptable text."""
    try:
        message = message_class.FromString(raw)
    except DecodeError as error:
        field = _invalid_utf8_field(message_class.DESCRIPTOR, raw)
        if field is None:
            return Rejected(
                InvalidArgument(
                    "request", f"is not a valid {message_class.DESCRIPTOR.name}: {error}", "MALFORMED_REQUEST"
                )
            )
        return Rejected(InvalidArgument(field, "is not valid UTF-8", "INVALID_UTF8"))
    if b"\x00" in raw:  # a NUL in a string is a 0 byte on the wire; so are many other things
        field = nul_field(message)
        if field is not None:
            return Rejected(InvalidArgument(field, "must not contain a NUL character (\\u0000)", "NUL_CHARACTER"))
    return message


def nul_field(message, prefix: str = "") -> str | None:
    """The path (`disc.title`, `tags[2]`, `labels[k]`) of the first string holding a NUL."""
    for field, value in message.ListFields():
        name = prefix + field.name
        if field.type == _STRING:
            for path, text in _items(field, name, value):
                if "\x00" in text:
                    return path
        elif field.type == _MESSAGE:
            if field.message_type.GetOptions().map_entry:
                key_type = field.message_type.fields_by_name["key"].type
                value_field = field.message_type.fields_by_name["value"]
                for key, item in value.items():
                    path = f"{name}[{key}]"
                    if key_type == _STRING and "\x00" in key:
                        return path
                    if value_field.type == _STRING and "\x00" in item:
                        return path
                    if value_field.type == _MESSAGE and (found := nul_field(item, path + ".")):
                        return found
            else:
                for path, item in _items(field, name, value):
                    if found := nul_field(item, path + "."):
                        return found
    return None


def _items(field, name: str, value):
    if field.is_repeated:
        return ((f"{name}[{i}]", item) for i, item in enumerate(value))
    return ((name, value),)


def _invalid_utf8_field(descriptor, raw: bytes, prefix: str = "") -> str | None:
    """Reads the wire format leniently to find the string field whose bytes are not UTF-8.

    protobuf's DecodeError does not say which field it was; None when it was something else
    (truncated or garbled bytes).
    """
    position, end = 0, len(raw)
    occurrences: dict[int, int] = {}  # of each repeated field so far: the next one's index
    try:
        while position < end:
            tag, position = _varint(raw, position)
            number, wire_type = tag >> 3, tag & 7
            if wire_type == 0:
                _, position = _varint(raw, position)
            elif wire_type == 1:
                position += 8
            elif wire_type == 5:
                position += 4
            elif wire_type == 2:
                length, position = _varint(raw, position)
                chunk, position = raw[position : position + length], position + length
                if position > end:
                    return None
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                name = prefix + field.name
                if field.is_repeated:  # `lookups[1]`, as nul_field names it
                    name = f"{name}[{occurrences.get(number, 0)}]"
                    occurrences[number] = occurrences.get(number, 0) + 1
                if field.type == _STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return name
                elif field.type == _MESSAGE and (found := _invalid_utf8_field(field.message_type, chunk, f"{name}.")):
                    return found
            else:
                return None  # groups: none in our protos
    except IndexError:
        return None
    return None


def _varint(raw: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def checked_handler(handler: grpc.RpcMethodHandler, path: str) -> grpc.RpcMethodHandler:
    """`handler` with its request checked on arrival; a refused one is answered INVALID_ARGUMENT
    the way guard.py answers a ServiceError (google.rpc.Status with ErrorInfo and BadRequest).

    A guarded method gets the Rejected itself and answers it after the caller's access rule, so
    that a caller who may not call the method learns that (401, 403), not what its fields hold."""
    parse = handler.request_deserializer
    message_class = getattr(parse, "__self__", None)  # generated code passes <Request>.FromString
    if handler.unary_unary is None or message_class is None or not hasattr(message_class, "DESCRIPTOR"):
        return handler
    behavior = handler.unary_unary
    if getattr(behavior, "answers_rejected", False):
        return handler._replace(request_deserializer=lambda raw: check_request(message_class, raw))  # type: ignore[attr-defined]

    async def rpc(request, context):
        if request.__class__ is Rejected:
            ACCESS_LOG.rpc(path, request.error.code.name, (time.perf_counter() - request.since) * 1000)
            await context.abort_with_status(rpc_status.to_status(to_rpc_status(request.error)))
        return await behavior(request, context)

    # grpc's handlers are namedtuples (its stubs do not say so): replaced, not mutated.
    return handler._replace(request_deserializer=lambda raw: check_request(message_class, raw), unary_unary=rpc)  # type: ignore[attr-defined]


class _CheckedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler):
        self._inner = inner
        self._checked: dict[str, grpc.RpcMethodHandler] = {}  # only methods that exist: it stays bounded

    def service(self, handler_call_details):
        method = handler_call_details.method
        checked = self._checked.get(method)
        if checked is None:
            found = self._inner.service(handler_call_details)
            if found is None:
                return None
            checked = self._checked[method] = checked_handler(found, method)
        return checked


def checked_registration(server: grpc.aio.Server) -> _CheckedRegistration:
    """What to hand the generated add_*_to_server in place of `server`: every method handler they
    add is replaced by its checked form; everything else passes through to `server`."""
    return _CheckedRegistration(server)


class _CheckedRegistration:
    def __init__(self, server: grpc.aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(_CheckedGenericHandler(h) for h in handlers))

    def add_registered_method_handlers(self, service_name: str, handlers: dict) -> None:
        self._server.add_registered_method_handlers(
            service_name, {name: checked_handler(h, f"/{service_name}/{name}") for name, h in handlers.items()}
        )

    def __getattr__(self, name):
        return getattr(self._server, name)
