"""The catalog's crash points for the crash tests: CATALOG_CRASH_AT=<point> (runtime/faults.py).

mid_batch: a batch of reservations has taken its units, not committed yet.
"""

from ..runtime.faults import CrashPoints

crash_point = CrashPoints("CATALOG_CRASH_AT", frozenset({"mid_batch"}))
