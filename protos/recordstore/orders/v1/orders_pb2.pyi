import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from recordstore.rules.v1 import rules_pb2 as _rules_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Purchase(_message.Message):
    __slots__ = ("id", "customer_id", "disc_id", "quantity", "unit_price", "total_price", "effective", "state", "request_id", "create_time", "update_time", "cancel_time", "failure_reason", "recorded_by")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Purchase.State]
        PENDING: _ClassVar[Purchase.State]
        CONFIRMED: _ClassVar[Purchase.State]
        REJECTED: _ClassVar[Purchase.State]
        CANCELLING: _ClassVar[Purchase.State]
        CANCELLED: _ClassVar[Purchase.State]
        FAILED: _ClassVar[Purchase.State]
    STATE_UNSPECIFIED: Purchase.State
    PENDING: Purchase.State
    CONFIRMED: Purchase.State
    REJECTED: Purchase.State
    CANCELLING: Purchase.State
    CANCELLED: Purchase.State
    FAILED: Purchase.State
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DISC_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    disc_id: str
    quantity: int
    unit_price: _money_pb2.Money
    total_price: _money_pb2.Money
    effective: bool
    state: Purchase.State
    request_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    cancel_time: _timestamp_pb2.Timestamp
    failure_reason: str
    recorded_by: str
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., disc_id: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., effective: _Optional[bool] = ..., state: _Optional[_Union[Purchase.State, str]] = ..., request_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failure_reason: _Optional[str] = ..., recorded_by: _Optional[str] = ...) -> None: ...

class CreatePurchaseRequest(_message.Message):
    __slots__ = ("purchase", "request_id")
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    purchase: Purchase
    request_id: str
    def __init__(self, purchase: _Optional[_Union[Purchase, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetPurchaseRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListPurchasesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "customer_id", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    customer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., customer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPurchasesResponse(_message.Message):
    __slots__ = ("purchases", "next_page_token")
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    purchases: _containers.RepeatedCompositeFieldContainer[Purchase]
    next_page_token: str
    def __init__(self, purchases: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelPurchaseRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchPurchaseEventsRequest(_message.Message):
    __slots__ = ("after_cursor",)
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    after_cursor: str
    def __init__(self, after_cursor: _Optional[str] = ...) -> None: ...

class PurchaseEvent(_message.Message):
    __slots__ = ("cursor", "type", "event_time", "purchase")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[PurchaseEvent.Type]
        HEARTBEAT: _ClassVar[PurchaseEvent.Type]
        CONFIRMED: _ClassVar[PurchaseEvent.Type]
        REJECTED: _ClassVar[PurchaseEvent.Type]
        FAILED: _ClassVar[PurchaseEvent.Type]
        CANCELLED: _ClassVar[PurchaseEvent.Type]
    TYPE_UNSPECIFIED: PurchaseEvent.Type
    HEARTBEAT: PurchaseEvent.Type
    CONFIRMED: PurchaseEvent.Type
    REJECTED: PurchaseEvent.Type
    FAILED: PurchaseEvent.Type
    CANCELLED: PurchaseEvent.Type
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    type: PurchaseEvent.Type
    event_time: _timestamp_pb2.Timestamp
    purchase: Purchase
    def __init__(self, cursor: _Optional[str] = ..., type: _Optional[_Union[PurchaseEvent.Type, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purchase: _Optional[_Union[Purchase, _Mapping]] = ...) -> None: ...
