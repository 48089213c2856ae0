"""Who may call what in the orders service: the one place it is decided (docs/api.md, "Who may call
what").

A customer buys as itself, and sees and cancels its own purchases only; another's purchase is
NOT_FOUND to it, as one that does not exist, so ids leak nothing. The staff sees and cancels
every purchase, but buys for nobody: a purchase is always its customer's own act.

Whose customer the buyer is, the customers service decides: orders asks it for the customer with
the buyer's own token (forwarded, not orders' rights), and it answers NOT_FOUND for a customer
not bound to that token. Orders holds no rights over customers of its own, so it cannot be made
to read one for someone else (no confused deputy). The recovery loop needs no caller: it only
finishes reservations, which the catalog grants to the orders service itself.
"""

from ..runtime.auth import CUSTOMER_ONLY, SIGNED_IN, Caller
from .model import Purchase

ACCESS = {
    "CreatePurchase": CUSTOMER_ONLY,
    "GetPurchase": SIGNED_IN,
    "ListPurchases": SIGNED_IN,
    "CancelPurchase": SIGNED_IN,
}


def may_see(caller: Caller, purchase: Purchase) -> bool:
    owner = caller.own_subject
    return owner is None or purchase.customer_subject == owner
