"""docs/edge.md, the operators' page of the gateway, says the limits gateway/envoy.yaml has, and
the defaults of the local run (devstack.gateway.GatewayLimits) are the containers'."""

from __future__ import annotations

import re

import yaml

from devstack.gateway import GatewayLimits
from tests.support import REPO_ROOT

PAGE = (REPO_ROOT / "docs" / "edge.md").read_text()


def test_the_defaults_are_one_set_for_every_deployment():
    entrypoint = (REPO_ROOT / "gateway" / "docker-entrypoint.sh").read_text()
    defaults = dict(re.findall(r'"\$\{([A-Z_]+):=([0-9]+)\}"', entrypoint))
    assert {name: value for name, value in defaults.items() if name != "JWKS_PORT"} == GatewayLimits().values()
    table = dict(re.findall(r"^\| `([A-Z_]+)` \| ([0-9]+) \|", PAGE, re.M))
    assert table == defaults


def test_the_page_states_the_budgets_timeouts_and_rates_the_config_has(gateway):
    config = yaml.safe_load(gateway.config_path.read_text())
    catalog = next(c for c in config["static_resources"]["clusters"] if c["name"] == "catalog")
    budgets = {t["priority"]: t["max_requests"] for t in catalog["circuit_breakers"]["thresholds"]}
    assert f"JSON calls {budgets['HIGH']}; raw gRPC calls {budgets['DEFAULT']}" in PAGE
    listener = config["static_resources"]["listeners"][0]
    assert listener["listener_filters_timeout"] == "5s" and "within 5 s of connecting" in PAGE
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    timeouts = {route["route"]["timeout"] for host in manager["route_config"]["virtual_hosts"]
                for route in host["routes"] if "route" in route}
    assert timeouts == {"0s", "2s", "6s"} and "reads (`Get*`, `List*`, GET) 2 s" in PAGE and "POST) 6 s" in PAGE
    assert "the change feeds (`Watch*`, [feed.md](feed.md)) none" in PAGE  # their routes' 0s
    [limits] = [f["typed_config"] for f in manager["http_filters"] if f["name"] == "envoy.filters.http.local_ratelimit"]
    buckets = {tuple(e.get("value", "*") for e in d["entries"]): d["token_bucket"] for d in limits["descriptors"]}
    raw = buckets[("raw_grpc", "*")]
    assert f"{raw['max_tokens']} at once, then {raw['tokens_per_fill']} a second" in PAGE
    assert raw["fill_interval"] == "1s"
    subject = buckets[("by_subject", "*")]
    assert subject["fill_interval"] == "60s" and f"{subject['max_tokens']} a minute per customer's subject" in PAGE
