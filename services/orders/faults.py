"""The orders service's crash points for the crash tests: ORDERS_CRASH_AT=<point> (runtime/faults.py).

after_reserve: the reservation is made, the purchase still pending; after_batch_reserve: a
batch of reservations (ReserveStocks) is made, none of its purchases settled; after_settle: the settlement committed, the answer not sent;
during_cancel: the purchase is cancelling, its units not given back yet.
"""

from ..runtime.faults import CrashPoints

crash_point = CrashPoints(
    "ORDERS_CRASH_AT", frozenset({"after_reserve", "after_batch_reserve", "after_settle", "during_cancel"})
)
