from pathlib import Path

import pytest

from services.catalog.repository import QUERIES as CATALOG_QUERIES, CatalogRepository, like_pattern
from services.customers.repository import QUERIES as CUSTOMER_QUERIES, CustomerRepository
from services.orders.repository import QUERIES as ORDER_QUERIES, PurchaseRepository
from services.runtime.queries import load_queries


def test_named_blocks_are_loaded(tmp_path: Path):
    path = tmp_path / "q.sql"
    path.write_text("-- header comment\n\n-- name: one\nSELECT 1;\n\n-- name: two\n-- why two\nSELECT\n  2;\n")
    assert load_queries(path) == {"one": "SELECT 1;", "two": "SELECT\n  2;"}


def test_a_name_defined_twice_is_an_error(tmp_path: Path):
    path = tmp_path / "q.sql"
    path.write_text("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")
    with pytest.raises(ValueError, match="twice"):
        load_queries(path)


@pytest.mark.parametrize("queries, repository", [
    (CATALOG_QUERIES, CatalogRepository),
    (CUSTOMER_QUERIES, CustomerRepository),
    (ORDER_QUERIES, PurchaseRepository),
])
def test_every_query_is_a_repository_method_and_back(queries, repository):
    methods = {name for name in vars(repository) if not name.startswith("_")}
    assert methods == set(queries)


def test_like_patterns_take_wildcards_literally():
    assert like_pattern("Gal") == "%Gal%"
    assert like_pattern("100%") == "%100\\%%"
    assert like_pattern("a_b\\c") == "%a\\_b\\\\c%"
