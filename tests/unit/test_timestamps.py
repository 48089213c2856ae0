from datetime import datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from services.runtime.errors import InvalidArgument
from services.runtime.timestamps import from_timestamp, to_timestamp


def test_to_timestamp_matches_protobuf_exactly():
    for moment in (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                   datetime(2026, 11, 27, 19, 38, 23, 230038, tzinfo=timezone.utc),
                   datetime(2026, 11, 27, 16, 38, 23, 1, tzinfo=timezone(timedelta(hours=-3)))):
        expected = timestamp_pb2.Timestamp()
        expected.FromDatetime(moment)
        assert to_timestamp(moment) == expected
        assert from_timestamp(to_timestamp(moment), "start_time") == moment


def test_none_stays_none():
    assert to_timestamp(None) is None


def test_the_edges_of_the_range_are_accepted():
    assert from_timestamp(timestamp_pb2.Timestamp(seconds=-62135596800), "start_time") == \
        datetime(1, 1, 1, tzinfo=timezone.utc)
    assert from_timestamp(timestamp_pb2.Timestamp(seconds=253402300799, nanos=999999999), "end_time") == \
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)


@pytest.mark.parametrize("seconds, nanos", [(253402300800, 0), (-62135596801, 0), (0, -1), (0, 2_000_000_000),
                                            (2**63 - 1, 0), (-2**63, 0)])
def test_out_of_range_names_the_field(seconds, nanos):
    with pytest.raises(InvalidArgument) as caught:
        from_timestamp(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos), "end_time")
    assert caught.value.field == "end_time"
    assert caught.value.reason == "TIMESTAMP_OUT_OF_RANGE"
