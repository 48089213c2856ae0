"""The layers of a service, as CONTRIBUTING.md's shape of a service states them, checked on the source."""

import ast

import pytest

from tests.support import REPO_ROOT

SERVICES = REPO_ROOT / "services"
# The database driver stays in the database layer: the pool and the migrations runner.
DRIVER_ALLOWED = {SERVICES / "runtime" / "db.py", SERVICES / "runtime" / "migrations.py"}


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(p for p in SERVICES.rglob("*.py") if "_pb2" not in p.name),
                         ids=lambda p: str(p.relative_to(SERVICES)))
def test_only_the_database_layer_imports_the_driver(path):
    drivers = {m for m in imported_modules(path) if m.split(".")[0] == "psycopg2"}
    assert path in DRIVER_ALLOWED or not drivers, f"{path.name} imports {sorted(drivers)}"


@pytest.mark.parametrize("mapping, states", [
    ("services.orders.servicer:STATES_TO_PROTO", "services.orders.model:PurchaseState"),
    ("services.catalog.servicer:RESERVATION_STATES_TO_PROTO", "services.catalog.model:ReservationState"),
    ("services.customers.servicer:STATES_TO_PROTO", "services.customers.model:CustomerState"),
])
def test_every_state_has_its_one_proto_value(mapping, states):
    import importlib

    def load(spec):
        module, name = spec.split(":")
        return getattr(importlib.import_module(module), name)

    assert set(load(mapping)) == set(load(states))
