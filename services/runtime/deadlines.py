"""Deadlines of outbound calls, taken from what is left of the caller's."""

from __future__ import annotations

import time

import grpc

from .errors import DeadlineExceeded


class Deadline:
    """A point in time shared by the outbound calls of one RPC."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds

    @classmethod
    def from_context(cls, context: grpc.ServicerContext, cap: float) -> Deadline:
        """The caller's deadline, at most `cap` seconds away: no outbound call waits forever."""
        remaining = context.time_remaining()
        return cls(cap if remaining is None else min(remaining, cap))

    def remaining(self) -> float:
        """Seconds left; DEADLINE_EXCEEDED once there are none, before another call is made."""
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded("the request's deadline passed before it could finish", "DEADLINE_PASSED")
        return left

    def left(self) -> float:
        """Seconds left, 0 once there are none: for a call made on behalf of several deadlines
        (a batch), where one that passed must not fail the others."""
        return max(0.0, self._end - time.monotonic())
