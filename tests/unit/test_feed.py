"""The change feed's pieces that need no database: the horizon's bookkeeping, cursors, event rows
made records again, settings, and each service's one mapping of event types."""

import re
from datetime import UTC, datetime

import pytest

from services.catalog import servicer as catalog
from services.customers import servicer as customers
from services.orders import servicer as orders
from services.orders.model import Purchase, PurchaseState
from services.runtime.config import ConfigError
from services.runtime.errors import InvalidArgument
from services.runtime.feed import MAX_PENDING, FeedSettings, Horizon, parse_cursor, record_of
from services.runtime.auth import Access, Authenticator
from services.runtime.guard import add_to_server
from tests.conftest import auth_settings_of
from tests.support import REPO_ROOT


def test_a_position_is_final_only_once_the_transactions_before_its_mark_have_ended():
    horizon = Horizon()
    horizon.mark(last=10, xid=500)  # positions up to 10 were drawn by transactions below 500
    assert not horizon.settle(xmin=499) and horizon.final == 0  # 499 may hold one of them
    assert horizon.waiting
    assert horizon.settle(xmin=500) and horizon.final == 10 and not horizon.waiting


def test_marks_settle_in_order_each_by_its_own_transaction_id():
    horizon = Horizon()
    horizon.mark(10, 500)
    horizon.mark(15, 520)
    horizon.mark(15, 530)  # nothing new drawn: nothing to mark
    assert horizon.newest == 15
    assert horizon.settle(510) and horizon.final == 10
    assert horizon.settle(520) and horizon.final == 15
    assert not horizon.settle(900)


def test_a_mark_below_what_is_final_or_marked_adds_nothing():
    horizon = Horizon(final=20)
    horizon.mark(20, 600)
    horizon.mark(12, 600)
    assert not horizon.waiting


def test_while_the_oldest_transaction_holds_the_horizon_marks_stay_bounded():
    horizon = Horizon()
    for n in range(1, 3 * MAX_PENDING):
        horizon.mark(n, 1000 + n)
    assert len(horizon._pending) == MAX_PENDING and horizon.newest == 3 * MAX_PENDING - 1
    assert horizon.settle(10_000) and horizon.final == 3 * MAX_PENDING - 1  # nothing was lost


@pytest.mark.parametrize("cursor, position", [("", 0), ("0", 0), ("42", 42), ("9223372036854775807", 2**63 - 1)])
def test_a_cursor_is_the_decimal_position_of_an_event(cursor, position):
    assert parse_cursor(cursor) == position


@pytest.mark.parametrize("cursor", ["-1", "01", "4.2", " 4", "x", "9223372036854775808", "١٢"])
def test_anything_else_is_invalid_argument_naming_after_cursor(cursor):
    with pytest.raises(InvalidArgument) as refused:
        parse_cursor(cursor)
    assert refused.value.field == "after_cursor" and refused.value.reason == "INVALID_CURSOR"


def test_an_events_row_becomes_its_record_again_timestamps_parsed_and_new_columns_left_out():
    row = {"id": "01a2", "request_id": "5f0c", "customer_id": "c", "disc_id": "d", "quantity": 2,
           "state": "confirmed", "effective": True, "unit_price_cents": 5990, "total_cents": 11980,
           "currency": "BRL", "create_time": "2026-12-08T00:18:14.970123+00:00",
           "update_time": "2026-12-08T00:18:15+00:00", "cancel_time": None, "failure_reason": None,
           "attempts": 0, "customer_subject": "ana", "recorded_by": "clerk", "a_column_of_later": 1}
    purchase = record_of(Purchase, row)
    assert purchase.state is PurchaseState.CONFIRMED and purchase.cancel_time is None
    assert purchase.create_time == datetime(2026, 12, 8, 0, 18, 14, 970123, tzinfo=UTC)
    assert (purchase.recorded_by, purchase.total_cents) == ("clerk", 11980)


@pytest.mark.parametrize("variable, value", [("FEED_RETENTION_DAYS", "0"), ("FEED_RETENTION_EVENTS", "-5"),
                                             ("FEED_MAX_SUBSCRIBERS", "many"), ("FEED_HEARTBEAT_SECONDS", "")])
def test_feed_settings_name_the_variable_that_is_wrong(variable, value):
    if value == "":
        assert FeedSettings.from_env({variable: value}) == FeedSettings()  # unset: the default
        return
    with pytest.raises(ConfigError, match=variable):
        FeedSettings.from_env({variable: value})


@pytest.mark.parametrize("module, migration, enum", [
    (orders, "services/orders/migrations/0007_create_events.sql", orders.orders_pb2.PurchaseEvent.Type),
    (catalog, "services/catalog/migrations/0009_create_events.sql", catalog.catalog_pb2.DiscEvent.Type),
    (customers, "services/customers/migrations/0004_create_events.sql", customers.customers_pb2.CustomerEvent.Type),
])
def test_every_event_type_stored_has_its_one_api_value_and_back(module, migration, enum):
    stored = re.search(r"CHECK \(type IN \(([^)]*)\)\)", (REPO_ROOT / migration).read_text()).group(1)
    assert set(module.EVENT_TYPES_TO_PROTO) == set(re.findall(r"'([a-z_.]+)'", stored))
    assert sorted(module.EVENT_TYPES_TO_PROTO.values()) == sorted(
        v for name, v in enum.items() if name not in ("TYPE_UNSPECIFIED", "HEARTBEAT"))


def test_a_streaming_method_without_a_rule_is_refused_before_it_serves():
    from services.catalog.access import ACCESS
    from services.catalog.servicer import SERVICE

    rules = {name: rule for name, rule in ACCESS.items() if name != "WatchDiscEvents"}
    with pytest.raises(TypeError, match="WatchDiscEvents"):
        Access(SERVICE, rules, authenticator=None)


def test_a_streaming_method_is_served_only_from_an_async_generator(issuer):
    from services.catalog.access import ACCESS
    from services.catalog.servicer import SERVICE, CatalogServicer

    class Servicer(CatalogServicer):
        async def WatchDiscEvents(self, request, context):  # a coroutine: it could answer once only
            return None

    with pytest.raises(TypeError, match="async generator WatchDiscEvents"):
        authenticator = Authenticator(auth_settings_of(issuer))
        add_to_server(None, Servicer.__new__(Servicer), Access(SERVICE, ACCESS, authenticator))
