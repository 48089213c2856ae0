from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
FIELD_FIELD_NUMBER: _ClassVar[int]
field: _descriptor.FieldDescriptor

class FieldRules(_message.Message):
    __slots__ = ("zero_is_unset", "uuid", "text", "max_length", "pattern", "pattern_meaning", "minimum", "maximum", "maximum_reason", "clamp_to_maximum", "default_value", "after", "money", "max_items")
    ZERO_IS_UNSET_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    PATTERN_MEANING_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_REASON_FIELD_NUMBER: _ClassVar[int]
    CLAMP_TO_MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    MONEY_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    zero_is_unset: bool
    uuid: bool
    text: bool
    max_length: int
    pattern: str
    pattern_meaning: str
    minimum: int
    maximum: int
    maximum_reason: str
    clamp_to_maximum: bool
    default_value: int
    after: str
    money: MoneyRules
    max_items: int
    def __init__(self, zero_is_unset: _Optional[bool] = ..., uuid: _Optional[bool] = ..., text: _Optional[bool] = ..., max_length: _Optional[int] = ..., pattern: _Optional[str] = ..., pattern_meaning: _Optional[str] = ..., minimum: _Optional[int] = ..., maximum: _Optional[int] = ..., maximum_reason: _Optional[str] = ..., clamp_to_maximum: _Optional[bool] = ..., default_value: _Optional[int] = ..., after: _Optional[str] = ..., money: _Optional[_Union[MoneyRules, _Mapping]] = ..., max_items: _Optional[int] = ...) -> None: ...

class MoneyRules(_message.Message):
    __slots__ = ("whole_cents", "max_units", "max_units_reason")
    WHOLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_UNITS_FIELD_NUMBER: _ClassVar[int]
    MAX_UNITS_REASON_FIELD_NUMBER: _ClassVar[int]
    whole_cents: bool
    max_units: int
    max_units_reason: str
    def __init__(self, whole_cents: _Optional[bool] = ..., max_units: _Optional[int] = ..., max_units_reason: _Optional[str] = ...) -> None: ...
