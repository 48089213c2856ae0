from datetime import datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from services.runtime.timestamps import from_timestamp, to_timestamp


def test_to_timestamp_matches_protobuf_exactly():
    for moment in (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                   datetime(2026, 11, 27, 19, 38, 23, 230038, tzinfo=timezone.utc),
                   datetime(2026, 11, 27, 16, 38, 23, 1, tzinfo=timezone(timedelta(hours=-3)))):
        expected = timestamp_pb2.Timestamp()
        expected.FromDatetime(moment)
        assert to_timestamp(moment) == expected
        assert from_timestamp(to_timestamp(moment)) == moment


def test_none_stays_none():
    assert to_timestamp(None) is None
