"""Every RPC states who may call it, and the API documents say the same."""

import json

from protos.openapi import ANONYMOUS_OPERATIONS, CUSTOMER_OPERATIONS
from services.catalog.access import ACCESS as CATALOG
from services.customers.access import ACCESS as CUSTOMERS
from services.orders.access import ACCESS as ORDERS
from services.catalog.servicer import SERVICE as CATALOG_SERVICE
from services.runtime.auth import ANYONE, CUSTOMER, Access, Caller, Rule
from tests.support import REPO_ROOT

ACCESS = {**CATALOG, **CUSTOMERS, **ORDERS}


def test_a_method_without_a_rule_is_refused_before_the_service_serves():
    forgotten = {name: rule for name, rule in CATALOG.items() if name != "RestockDisc"}
    try:
        Access(CATALOG_SERVICE, forgotten, authenticator=None)  # refused before any token is read
    except TypeError as error:
        assert "RestockDisc" in str(error)
    else:
        raise AssertionError("a method without an access rule was accepted")


def test_the_openapi_document_and_the_collection_follow_the_rules():
    anonymous = {name for name, rule in ACCESS.items() if rule == ANYONE}
    # The internal RPCs have no HTTP binding: the documents do not list them.
    assert ANONYMOUS_OPERATIONS == anonymous - {"ReserveStock", "ReleaseStock"}
    assert CUSTOMER_OPERATIONS == {name for name, rule in ACCESS.items()
                                   if rule.roles and CUSTOMER in rule.roles and name.startswith("Create")}
    document = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    for verbs in document["paths"].values():
        for operation in verbs.values():
            optional = {} in operation["security"]
            assert optional == (operation["operationId"] in ANONYMOUS_OPERATIONS), operation["operationId"]
            assert {"bearer": []} in operation["security"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_a_rule_lets_in_the_roles_it_names_only():
    staff, customer = Caller("s", frozenset({"staff"}), "t"), Caller("c", frozenset({"customer"}), "t")
    rule = Rule(frozenset({"staff"}))
    rule.check(staff, "M")
    for caller, code in ((customer, "PERMISSION_DENIED"), (Caller(), "UNAUTHENTICATED"),
                         (Caller("n", frozenset(), "t"), "PERMISSION_DENIED")):
        try:
            rule.check(caller, "M")
        except Exception as error:  # noqa: BLE001 - the kind is what is checked
            assert error.code.name == code
        else:
            raise AssertionError(f"{caller} was let in")


def test_a_callers_own_subject_is_its_own_and_the_staffs_is_everyones():
    assert Caller(subject="ana", roles=frozenset({CUSTOMER})).own_subject == "ana"
    assert Caller(subject="admin", roles=frozenset({"staff"})).own_subject is None
    assert Caller(subject="both", roles=frozenset({"staff", CUSTOMER})).own_subject is None


def test_the_feeds_rule_lets_in_the_staff_and_backend_services_by_certificate_only():
    from services.runtime.auth import STAFF_OR_BACKENDS
    STAFF_OR_BACKENDS.check(Caller("s", frozenset({"staff"}), "t"), "M")
    STAFF_OR_BACKENDS.check(Caller(service="fulfilment"), "M")  # no token: its certificate is enough
    STAFF_OR_BACKENDS.check(Caller(service="orders"), "M")
    refused = [(Caller("c", frozenset({"customer"}), "t", service="gateway"), "PERMISSION_DENIED"),
               (Caller(service="gateway"), "UNAUTHENTICATED"),  # the gateway relays end users: their token decides
               (Caller(service="client"), "UNAUTHENTICATED"),  # the development tools' certificate
               (Caller(), "UNAUTHENTICATED")]
    for caller, code in refused:
        try:
            STAFF_OR_BACKENDS.check(caller, "M")
        except Exception as error:  # noqa: BLE001 - the kind is what is checked
            assert error.code.name == code, caller
        else:
            raise AssertionError(f"{caller} was let in")
