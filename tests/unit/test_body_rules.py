"""The tables the gateway's body check is generated with (protos/body_rules.py)."""

import re
import sys

from tests.support import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "protos"))
from body_rules import _pattern, build_lua  # noqa: E402
from openapi import API_FILES  # noqa: E402

LUA = build_lua((REPO_ROOT / "gateway" / "recordstore.pb").read_bytes(), API_FILES)


def lua_pattern_matches(pattern: str, path: str) -> bool:
    """The few Lua pattern items _pattern writes, read as a Python regex."""
    return re.fullmatch(pattern.strip("^$").replace("%", "\\"), path) is not None


def test_a_path_variable_is_one_segment_and_the_rest_is_literal():
    pattern = _pattern("/v1/discs/{id}:restock")
    assert pattern == "^/v1/discs/[^/:]+:restock$"
    assert lua_pattern_matches(pattern, "/v1/discs/0190a000-0000-7000-8000-00000000000a:restock")
    assert not lua_pattern_matches(pattern, "/v1/discs/a/b:restock")
    assert _pattern("/v1/a-b.c") == "^/v1/a%-b%.c$"


def test_every_field_is_known_by_its_proto_and_its_json_name():
    purchase = LUA.split('[".recordstore.orders.v1.Purchase"] = {', 1)[1].split("},\n  [", 1)[0]
    for key in ("customer_id", "customerId", "quantity", "request_id", "requestId"):
        assert f'["{key}"]' in purchase


def test_every_bound_post_has_a_body_route_and_internal_rpcs_none():
    routes = re.findall(r'\{method = "POST", pattern = "([^"]+)", body = "([^"]+)", prefix = "([^"]*)"\}', LUA)
    assert ("^/v1/purchases$", ".recordstore.orders.v1.Purchase", "purchase") in routes
    assert ("^/v1/discs/[^/:]+:restock$", ".recordstore.catalog.v1.RestockDiscRequest", "") in routes
    assert len(routes) == 6
    assert "ReserveStock" not in LUA
