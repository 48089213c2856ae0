import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from recordstore.rules.v1 import rules_pb2 as _rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Customer(_message.Message):
    __slots__ = ("id", "name", "email", "document", "phone", "state", "create_time", "deactivate_time", "subject")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Customer.State]
        ACTIVE: _ClassVar[Customer.State]
        DEACTIVATED: _ClassVar[Customer.State]
    STATE_UNSPECIFIED: Customer.State
    ACTIVE: Customer.State
    DEACTIVATED: Customer.State
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    document: str
    phone: str
    state: Customer.State
    create_time: _timestamp_pb2.Timestamp
    deactivate_time: _timestamp_pb2.Timestamp
    subject: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., document: _Optional[str] = ..., phone: _Optional[str] = ..., state: _Optional[_Union[Customer.State, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deactivate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ...) -> None: ...

class CreateCustomerRequest(_message.Message):
    __slots__ = ("customer", "request_id")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    request_id: str
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class BatchGetCustomersRequest(_message.Message):
    __slots__ = ("lookups",)
    LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    lookups: _containers.RepeatedCompositeFieldContainer[CustomerLookup]
    def __init__(self, lookups: _Optional[_Iterable[_Union[CustomerLookup, _Mapping]]] = ...) -> None: ...

class CustomerLookup(_message.Message):
    __slots__ = ("id", "bearer_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    BEARER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    bearer_token: str
    def __init__(self, id: _Optional[str] = ..., bearer_token: _Optional[str] = ...) -> None: ...

class BatchGetCustomersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CustomerResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CustomerResult, _Mapping]]] = ...) -> None: ...

class CustomerResult(_message.Message):
    __slots__ = ("customer", "error")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    error: _status_pb2.Status
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_deactivated")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_deactivated: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_deactivated: _Optional[bool] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers", "next_page_token")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    next_page_token: str
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeactivateCustomerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchCustomerEventsRequest(_message.Message):
    __slots__ = ("after_cursor",)
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    after_cursor: str
    def __init__(self, after_cursor: _Optional[str] = ...) -> None: ...

class CustomerEvent(_message.Message):
    __slots__ = ("cursor", "type", "event_time", "customer")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[CustomerEvent.Type]
        HEARTBEAT: _ClassVar[CustomerEvent.Type]
        CREATED: _ClassVar[CustomerEvent.Type]
        DEACTIVATED: _ClassVar[CustomerEvent.Type]
    TYPE_UNSPECIFIED: CustomerEvent.Type
    HEARTBEAT: CustomerEvent.Type
    CREATED: CustomerEvent.Type
    DEACTIVATED: CustomerEvent.Type
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    type: CustomerEvent.Type
    event_time: _timestamp_pb2.Timestamp
    customer: Customer
    def __init__(self, cursor: _Optional[str] = ..., type: _Optional[_Union[CustomerEvent.Type, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ...) -> None: ...
