"""Who may call what in the catalog: the one place it is decided (docs/api.md, "Who may call what").

Browsing is anonymous; changing the catalog is the staff's. The stock reservations are the
orders service's alone (its certificate says who it is: see runtime/auth.py).
"""

from ..runtime.auth import ANYONE, STAFF_ONLY, STAFF_OR_BACKENDS, service_only

ACCESS = {
    "GetDisc": ANYONE,
    "ListDiscs": ANYONE,
    "CreateDisc": STAFF_ONLY,
    "RestockDisc": STAFF_ONLY,
    # Every disc's changes and stock moves, for the staff and other backends (a search index...).
    "WatchDiscEvents": STAFF_OR_BACKENDS,
    # Only the orders service moves stock for purchases (its certificate says who it is): any other
    # caller could drain a disc with made-up reservations, or give units back for a purchase that
    # stays confirmed. Never routed by the gateway either.
    "ReserveStock": service_only("orders"),
    "ReserveStocks": service_only("orders"),
    "ReleaseStock": service_only("orders"),
}
