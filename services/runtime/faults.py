"""Fault injection for crash tests: <SERVICE>_CRASH_AT=<point> makes the process die at that point.

Each service names its points (the moments where a crash is most dangerous for stock and
purchases to agree) in its own faults module. Unset (always, outside tests), a point does nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from .access_log import ACCESS_LOG


class CrashPoints:
    def __init__(self, variable: str, points: frozenset[str], env: Mapping[str, str] = os.environ):
        self._armed = env.get(variable, "")
        self._variable = variable
        if self._armed and self._armed not in points:
            raise SystemExit(f"{variable}={self._armed!r} is not one of {sorted(points)}")

    def __call__(self, name: str) -> None:
        if name == self._armed:
            logging.getLogger(__name__).error("%s=%s: exiting hard", self._variable, name)
            ACCESS_LOG.flush()
            logging.shutdown()
            os._exit(70)
