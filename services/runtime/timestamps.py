"""google.protobuf.Timestamp <-> timezone-aware datetime."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from .errors import InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The range google.protobuf.Timestamp allows (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z),
# which is also datetime's: a value outside it is the client's mistake, never a ValueError.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
MAX_NANOS = 999_999_999


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    """Exact integer arithmetic (Timestamp.FromDatetime does the same, several times slower)."""
    if moment is None:
        return None
    delta = moment - _EPOCH
    return timestamp_pb2.Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def from_timestamp(stamp: timestamp_pb2.Timestamp, field: str) -> datetime:
    """The moment a request's `field` names; out of Timestamp's range is INVALID_ARGUMENT on `field`.

    A JSON client can send the two parts apart (`start_time.seconds=...&start_time.nanos=...`),
    so each is checked, not only what an RFC 3339 string could say.
    """
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS:
        raise InvalidArgument(
            field, "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z", "TIMESTAMP_OUT_OF_RANGE"
        )
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise InvalidArgument(
            field, f"nanos must be between 0 and {MAX_NANOS}, got {stamp.nanos}", "TIMESTAMP_OUT_OF_RANGE"
        )
    return stamp.ToDatetime(tzinfo=UTC)
