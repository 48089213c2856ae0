"""Who may call what in the customers service: the one place it is decided (docs/api.md, "Who may call
what").

The staff registers, lists and deactivates anyone. A customer signs up (bound to its token's
subject), and reads and deactivates itself only: any other customer is NOT_FOUND to it, as one
that does not exist, so ids leak nothing.
"""

from ..runtime.auth import SIGNED_IN, STAFF_ONLY, STAFF_OR_BACKENDS, Caller, service_only
from .model import Customer

ACCESS = {
    "CreateCustomer": SIGNED_IN,
    "GetCustomer": SIGNED_IN,
    # Lookups for many buyers at once, each with its buyer's token, let in as that token's call of
    # GetCustomer would be (LOOKUP_AS): only the orders service sends them.
    "BatchGetCustomers": service_only("orders"),
    "ListCustomers": STAFF_ONLY,
    "DeactivateCustomer": SIGNED_IN,
    # Every customer's sign-up and deactivation, for the staff and other backends (e-mail...).
    "WatchCustomerEvents": STAFF_OR_BACKENDS,
}


def may_see(caller: Caller, customer: Customer) -> bool:
    return caller.is_staff or (customer.subject is not None and customer.subject == caller.subject)


# Who may be looked up for in BatchGetCustomers: whoever may call GetCustomer.
LOOKUP_AS = "GetCustomer"
