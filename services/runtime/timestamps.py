"""google.protobuf.Timestamp <-> timezone-aware datetime."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    """Exact integer arithmetic (Timestamp.FromDatetime does the same, several times slower)."""
    if moment is None:
        return None
    delta = moment - _EPOCH
    return timestamp_pb2.Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=timezone.utc)
