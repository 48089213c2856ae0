"""What a request's bytes must be before any servicer code sees them: a message of the method's
request type, its strings valid UTF-8 and without NUL.

Each used to reach deeper layers and fail there: protobuf's DecodeError became a status naming a
Python exception, and PostgreSQL, which refuses NUL in text, turned a NUL into a 500. Here they are
INVALID_ARGUMENT naming the field (reasons MALFORMED_REQUEST, INVALID_UTF8, NUL_CHARACTER), in our
words. guard.py calls `decode` on every request it reads. A request without a single 0 byte cannot
hold a NUL, so most are never walked: a clean request costs its parse and one byte search.
"""

from __future__ import annotations

from collections import Counter

from google.protobuf import empty_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .errors import InvalidArgument

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_LENGTH_DELIMITED = 2  # the wire type of strings and messages


def decode(message_class: type[Message], raw: bytes) -> Message:
    """The request `raw` encodes; InvalidArgument naming what makes it unacceptable."""
    try:
        message = message_class.FromString(raw)
    except DecodeError:
        field = invalid_utf8_field(message_class.DESCRIPTOR, raw)
        if field is None:  # protobuf's own words name its parser, not the client's mistake
            raise InvalidArgument(
                "request", f"is not a {message_class.DESCRIPTOR.name} in the protobuf wire format", "MALFORMED_REQUEST"
            ) from None
        raise InvalidArgument(field, "is not valid UTF-8", "INVALID_UTF8") from None
    if b"\x00" in raw:  # a NUL in a string is a 0 byte on the wire; so are many other things
        field = nul_field(message)
        if field is not None:
            raise InvalidArgument(field, "must not contain a NUL character (\\u0000)", "NUL_CHARACTER")
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


def invalid_utf8_field(descriptor, raw: bytes, prefix: str = "") -> str | None:
    """The path of the string field whose bytes are not UTF-8 (`lookups[1].id`, as nul_field names
    it), or None when the bytes are no message at all (cut short, garbled).

    protobuf's DecodeError does not say which field it was. So the bytes are parsed again as a
    message with no fields (Empty): protobuf keeps every field as an unknown one, strings as raw
    bytes, and each is looked up by number in the request's descriptor.
    """
    try:
        fields = UnknownFieldSet(empty_pb2.Empty.FromString(raw))
    except DecodeError:
        return None
    occurrences: Counter[int] = Counter()  # of each repeated field so far: the next one's index
    for index in range(len(fields)):
        found = fields[index]
        field = descriptor.fields_by_number.get(found.field_number)
        if field is None or found.wire_type != _LENGTH_DELIMITED:
            continue
        name = prefix + field.name
        if field.is_repeated:
            name = f"{name}[{occurrences[field.number]}]"
            occurrences[field.number] += 1
        if field.type == _STRING:
            try:
                found.data.decode("utf-8")
            except UnicodeDecodeError:
                return name
        elif field.type == _MESSAGE and (inner := invalid_utf8_field(field.message_type, found.data, f"{name}.")):
            return inner
    return None
