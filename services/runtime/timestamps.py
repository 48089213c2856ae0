"""google.protobuf.Timestamp <-> timezone-aware datetime."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=timezone.utc)
