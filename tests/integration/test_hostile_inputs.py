"""Inputs built to break the services: each is INVALID_ARGUMENT naming the field, never a 500 or
a 503, and none of them costs the database pool a connection."""

import grpc
import pytest
from google.protobuf import timestamp_pb2
from recordstore.orders.v1 import orders_pb2

from tests.support import raises_status


@pytest.mark.parametrize("field", ["start_time", "end_time"])
@pytest.mark.parametrize("seconds, nanos", [(253402300800, 0), (-62135596801, 0), (0, -1), (0, 2_000_000_000)])
def test_a_timestamp_out_of_range_names_its_field(stack, field, seconds, nanos):
    request = orders_pb2.ListPurchasesRequest(**{field: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)})
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field, "TIMESTAMP_OUT_OF_RANGE"):
        stack.orders.ListPurchases(request, timeout=10)
