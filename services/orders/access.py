"""Who may call what in the orders service: the one place it is decided (docs/api.md, "Who may call
what").

A customer buys as itself, and sees and cancels its own purchases only; another's purchase is
NOT_FOUND to it, as one that does not exist, so ids leak nothing. The staff sees and cancels
every purchase, and records sales at the counter for any customer: such a purchase is still the
customer's (it sees it among its own), and says who recorded it.

Whose customer the buyer is, the customers service decides: orders asks it for the customer with
the caller's own token (forwarded, not orders' rights), and it answers NOT_FOUND to a shopper for
a customer not bound to its token, and any customer to the staff. Orders holds no rights over
customers of its own, so it cannot be made to read one for someone else (no confused deputy). The
recovery loop needs no caller: it only finishes reservations, which the catalog grants to the
orders service itself.
"""

from ..runtime.auth import SIGNED_IN, STAFF_OR_BACKENDS, Caller
from .model import Buyer, Purchase

ACCESS = {
    "CreatePurchase": SIGNED_IN,
    "GetPurchase": SIGNED_IN,
    "ListPurchases": SIGNED_IN,
    "CancelPurchase": SIGNED_IN,
    # Every purchase's changes: for the staff and for other backends (fulfilment, e-mail...), by
    # their certificates. A customer follows its own with GetPurchase and ListPurchases.
    "WatchPurchaseEvents": STAFF_OR_BACKENDS,
}


def owner_subject(caller: Caller, buyer: Buyer) -> str | None:
    """The subject who sees a new purchase as its own: the subject its customer is bound to, as
    the customers service answered it (a sale at the counter is the customer's, not the staff's).
    A customer the staff registered is bound to no one: its purchases are the staff's to see. A
    shopper's customer is bound to the shopper (the customers service answered no other), which
    covers a customers service too old to say so."""
    return buyer.subject if buyer.subject is not None else caller.own_subject


def may_see(caller: Caller, purchase: Purchase) -> bool:
    owner = caller.own_subject
    return owner is None or purchase.customer_subject == owner
