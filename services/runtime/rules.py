"""The request rules the protos state ((recordstore.rules.v1.field) and google.api.field_behavior),
enforced before any I/O.

The protos are the one place a bound is written: the OpenAPI document is generated from the same
options (protos/openapi.py), so what a JSON client is told and what a service refuses cannot drift
apart. Each failure is InvalidArgument naming the field by its path in the request
(`disc.release_year`), with the reason the rule names (INVALID_FIELD unless it says otherwise).
What no option can state (the ISO 4217 table, which characters text may hold) is checked by
money.py and validation.py, which the rules call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from recordstore.rules.v1 import rules_pb2

from . import money, timestamps, validation
from .errors import InvalidArgument

if TYPE_CHECKING:
    FieldRules = Any  # protoc's Python output carries no types (see pyproject.toml, mypy)
else:
    FieldRules = rules_pb2.FieldRules
_MONEY, _TIMESTAMP = "google.type.Money", "google.protobuf.Timestamp"


def of(message_type: type[Message] | Descriptor, name: str) -> FieldRules:
    """The rules stated on field `name` of a message (empty rules when none)."""
    descriptor: Any = getattr(
        message_type, "DESCRIPTOR", message_type
    )  # a Descriptor, in protobuf's C or Python flavour
    return _options(descriptor.fields_by_name[name])


def _options(field: FieldDescriptor) -> FieldRules:
    return field.GetOptions().Extensions[rules_pb2.field]


def _behaviors(field: FieldDescriptor):
    return field.GetOptions().Extensions[field_behavior_pb2.field_behavior]


def _required(field: FieldDescriptor) -> bool:
    return field_behavior_pb2.REQUIRED in _behaviors(field)


@dataclass(frozen=True)
class _Check:
    name: str
    check: Callable  # (message, path) -> value


def checked(message: Message, prefix: str = "") -> dict:
    """Every field of `message` that has rules or is REQUIRED, checked in declaration order and
    cleaned (text in NFC and trimmed, ids in canonical form, page sizes defaulted and clamped,
    money as (cents, currency), timestamps as aware datetimes); None for a field not set."""
    path = f"{prefix}." if prefix else ""
    return {c.name: c.check(message, path + c.name) for c in _checks(message.DESCRIPTOR)}


@functools.cache
def _checks(descriptor: Descriptor) -> tuple[_Check, ...]:
    found = []
    for field in descriptor.fields:
        rules, required = _options(field), _required(field)
        # A timestamp a client sets always has a range to keep (Timestamp's own).
        settable_time = (
            field.message_type is not None
            and field.message_type.full_name == _TIMESTAMP
            and field_behavior_pb2.OUTPUT_ONLY not in _behaviors(field)
        )
        if rules.ByteSize() == 0 and not required and not settable_time:
            continue
        found.append(_Check(field.name, _check_for(field, rules, required)))
    return tuple(found)


def _check_for(field: FieldDescriptor, rules: FieldRules, required: bool) -> Callable:
    name = field.name
    if field.is_repeated:  # its items are checked each on its own, by whoever takes them
        return lambda message, path: items(getattr(message, name), path, rules, required)
    if field.message_type is not None and field.message_type.full_name == _MONEY:
        return lambda message, path: _money(message, name, path, rules, required)
    if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
        return lambda message, path: _timestamp(message, name, path, rules, required)
    if field.message_type is not None:

        def present(message, path):
            if required and not message.HasField(name):
                raise InvalidArgument(path, "is required")
            return getattr(message, name) if message.HasField(name) else None

        return present
    if field.type == FieldDescriptor.TYPE_STRING:
        return lambda message, path: string(getattr(message, name), path, rules, required)
    return lambda message, path: integer(getattr(message, name), path, rules)


def items(values: Sequence, path: str, rules: FieldRules, required: bool = False) -> Sequence:
    """A repeated field's items, as many as its rules let in (max_items; at least one if REQUIRED)."""
    least = 1 if required else 0
    if len(values) < least or (rules.max_items and len(values) > rules.max_items):
        most = rules.max_items or "any number of"
        raise InvalidArgument(path, f"must hold {least} to {most} {path}, not {len(values)}")
    return values


def string(value: str, path: str, rules: FieldRules, required: bool = False) -> str | None:
    if rules.text:
        text = validation.clean_text(path, value, rules.max_length or validation.DEFAULT_MAX_LENGTH)
    else:
        text = validation.limit_length(path, value, rules.max_length) if rules.max_length else value
    if not text:
        if required:
            raise InvalidArgument(path, "is required")
        return None
    if rules.uuid:
        text = validation.require_id(path, text)
    if rules.pattern and not re.search(rules.pattern, text):
        raise InvalidArgument(
            path, f"is not {rules.pattern_meaning or 'in the expected form'}: {validation.shown(text)}"
        )
    return text


def integer(value: int, path: str, rules: FieldRules) -> int | None:
    if value == 0 and rules.zero_is_unset:
        return None
    if value == 0 and rules.default_value:
        return rules.default_value
    if rules.HasField("minimum") and value < rules.minimum:
        if rules.HasField("maximum") and not rules.clamp_to_maximum:
            raise InvalidArgument(path, f"must be between {rules.minimum} and {rules.maximum}, got {value}")
        raise InvalidArgument(path, f"must be at least {rules.minimum}, got {value}")
    if rules.HasField("maximum") and value > rules.maximum:
        if rules.clamp_to_maximum:
            return rules.maximum
        if rules.HasField("minimum"):
            raise InvalidArgument(
                path,
                f"must be between {rules.minimum} and {rules.maximum}, got {value}",
                rules.maximum_reason or "INVALID_FIELD",
            )
        raise InvalidArgument(
            path, f"must be at most {rules.maximum}, got {value}", rules.maximum_reason or "INVALID_FIELD"
        )
    return value


def _money(message: Message, name: str, path: str, rules: FieldRules, required: bool):
    if not message.HasField(name):
        if required:
            raise InvalidArgument(path, "is required")
        return None
    return money.price_to_cents(path, getattr(message, name), rules.money)


def _timestamp(message: Message, name: str, path: str, rules: FieldRules, required: bool):
    if not message.HasField(name):
        if required:
            raise InvalidArgument(path, "is required")
        return None
    moment = timestamps.from_timestamp(getattr(message, name), path)
    if rules.after and message.HasField(rules.after):
        earlier = timestamps.from_timestamp(getattr(message, rules.after), _sibling(path, rules.after))
        if moment <= earlier:
            raise InvalidArgument(path, f"must be after {rules.after}")
    return moment


def _sibling(path: str, name: str) -> str:
    head, _, _ = path.rpartition(".")
    return f"{head}.{name}" if head else name
