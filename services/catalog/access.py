"""Who may call what in the catalog: the one place it is decided (see README, "Who may call what").

Browsing is anonymous; changing the catalog is the staff's. The stock reservations are the
orders service's alone (its certificate says who it is: see runtime/auth.py).
"""

from ..runtime.auth import ANYONE, STAFF_ONLY

ACCESS = {
    "GetDisc": ANYONE,
    "ListDiscs": ANYONE,
    "CreateDisc": STAFF_ONLY,
    "RestockDisc": STAFF_ONLY,
    # Called by the orders service only, never routed by the gateway.
    "ReserveStock": ANYONE,
    "ReleaseStock": ANYONE,
}
