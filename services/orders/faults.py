"""Fault injection for crash tests: ORDERS_CRASH_AT=<point> makes the process die at that point.

The points are the moments where a crash is most dangerous for stock and purchases to agree.
Unset (always, outside tests), crash_point() does nothing.
"""

from __future__ import annotations

import logging
import os

from ..runtime.access_log import ACCESS_LOG

POINTS = frozenset({"after_reserve", "after_settle", "during_cancel"})
_ARMED = os.environ.get("ORDERS_CRASH_AT", "")
if _ARMED and _ARMED not in POINTS:
    raise SystemExit(f"ORDERS_CRASH_AT={_ARMED!r} is not one of {sorted(POINTS)}")


def crash_point(name: str) -> None:
    if name == _ARMED:
        logging.getLogger(__name__).error("ORDERS_CRASH_AT=%s: exiting hard", name)
        ACCESS_LOG.flush()
        logging.shutdown()
        os._exit(70)
