import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from recordstore.rules.v1 import rules_pb2 as _rules_pb2
from google.type import money_pb2 as _money_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Disc(_message.Message):
    __slots__ = ("id", "title", "artist", "genre", "release_year", "price", "stock", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    artist: str
    genre: str
    release_year: int
    price: _money_pb2.Money
    stock: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., artist: _Optional[str] = ..., genre: _Optional[str] = ..., release_year: _Optional[int] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., stock: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDiscRequest(_message.Message):
    __slots__ = ("disc", "request_id")
    DISC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    disc: Disc
    request_id: str
    def __init__(self, disc: _Optional[_Union[Disc, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetDiscRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListDiscsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "artist", "title", "genre", "release_year")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    artist: str
    title: str
    genre: str
    release_year: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., artist: _Optional[str] = ..., title: _Optional[str] = ..., genre: _Optional[str] = ..., release_year: _Optional[int] = ...) -> None: ...

class ListDiscsResponse(_message.Message):
    __slots__ = ("discs", "next_page_token")
    DISCS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    discs: _containers.RepeatedCompositeFieldContainer[Disc]
    next_page_token: str
    def __init__(self, discs: _Optional[_Iterable[_Union[Disc, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RestockDiscRequest(_message.Message):
    __slots__ = ("id", "quantity")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    quantity: int
    def __init__(self, id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("id", "disc_id", "quantity", "state", "unit_price", "create_time", "release_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Reservation.State]
        GRANTED: _ClassVar[Reservation.State]
        REJECTED: _ClassVar[Reservation.State]
        RELEASED: _ClassVar[Reservation.State]
    STATE_UNSPECIFIED: Reservation.State
    GRANTED: Reservation.State
    REJECTED: Reservation.State
    RELEASED: Reservation.State
    ID_FIELD_NUMBER: _ClassVar[int]
    DISC_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    disc_id: str
    quantity: int
    state: Reservation.State
    unit_price: _money_pb2.Money
    create_time: _timestamp_pb2.Timestamp
    release_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., disc_id: _Optional[str] = ..., quantity: _Optional[int] = ..., state: _Optional[_Union[Reservation.State, str]] = ..., unit_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., release_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveStockRequest(_message.Message):
    __slots__ = ("reservation_id", "disc_id", "quantity")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    DISC_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    disc_id: str
    quantity: int
    def __init__(self, reservation_id: _Optional[str] = ..., disc_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class ReserveStocksRequest(_message.Message):
    __slots__ = ("reservations",)
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    reservations: _containers.RepeatedCompositeFieldContainer[ReserveStockRequest]
    def __init__(self, reservations: _Optional[_Iterable[_Union[ReserveStockRequest, _Mapping]]] = ...) -> None: ...

class ReserveStocksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReservationResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ReservationResult, _Mapping]]] = ...) -> None: ...

class ReservationResult(_message.Message):
    __slots__ = ("reservation", "error")
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    error: _status_pb2.Status
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ReleaseStockRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class WatchDiscEventsRequest(_message.Message):
    __slots__ = ("after_cursor",)
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    after_cursor: str
    def __init__(self, after_cursor: _Optional[str] = ...) -> None: ...

class DiscEvent(_message.Message):
    __slots__ = ("cursor", "type", "event_time", "disc", "quantity", "reservation_id")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[DiscEvent.Type]
        HEARTBEAT: _ClassVar[DiscEvent.Type]
        CREATED: _ClassVar[DiscEvent.Type]
        STOCK_RESERVED: _ClassVar[DiscEvent.Type]
        STOCK_RELEASED: _ClassVar[DiscEvent.Type]
        RESTOCKED: _ClassVar[DiscEvent.Type]
    TYPE_UNSPECIFIED: DiscEvent.Type
    HEARTBEAT: DiscEvent.Type
    CREATED: DiscEvent.Type
    STOCK_RESERVED: DiscEvent.Type
    STOCK_RELEASED: DiscEvent.Type
    RESTOCKED: DiscEvent.Type
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DISC_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    type: DiscEvent.Type
    event_time: _timestamp_pb2.Timestamp
    disc: Disc
    quantity: int
    reservation_id: str
    def __init__(self, cursor: _Optional[str] = ..., type: _Optional[_Union[DiscEvent.Type, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disc: _Optional[_Union[Disc, _Mapping]] = ..., quantity: _Optional[int] = ..., reservation_id: _Optional[str] = ...) -> None: ...
