"""The replicas' addresses as the orders service dials them, and as Envoy's clusters list them."""

from types import SimpleNamespace

import pytest
import yaml

from devstack.__main__ import instance_addresses, parse_args
from devstack.gateway import render_config
from devstack.stack import grpc_target, instance_names, service_of


def test_one_replica_keeps_the_service_s_name_and_several_are_numbered():
    assert instance_names("catalog", 1) == ["catalog"]
    assert instance_names("catalog", 3) == ["catalog-1", "catalog-2", "catalog-3"]
    assert {service_of(name) for name in instance_names("orders", 2)} == {"orders"}


def test_a_target_names_every_replica():
    assert grpc_target(["127.0.0.1:5"]) == "127.0.0.1:5"
    assert grpc_target(["127.0.0.1:5", "127.0.0.2:6"]) == "ipv4:127.0.0.1:5,127.0.0.2:6"
    assert grpc_target(["[::1]:5", "[::1]:6"]) == "ipv6:[::1]:5,[::1]:6"
    with pytest.raises(ValueError, match="IP addresses"):
        grpc_target(["catalog:5", "catalog:6"])
    with pytest.raises(ValueError, match="IPv4 and IPv6"):
        grpc_target(["127.0.0.1:5", "[::1]:6"])


def test_replicas_take_the_ports_after_the_first_three():
    args = parse_args(["--replicas", "2", "--base-port", "6000"])
    assert instance_addresses(args) == {
        "customers-1": "127.0.0.1:6000", "catalog-1": "127.0.0.1:6001", "orders-1": "127.0.0.1:6002",
        "customers-2": "127.0.0.1:6003", "catalog-2": "127.0.0.1:6004", "orders-2": "127.0.0.1:6005"}
    assert instance_addresses(parse_args([])) == {
        "customers": "127.0.0.1:50051", "catalog": "127.0.0.1:50052", "orders": "127.0.0.1:50053"}
    with pytest.raises(SystemExit):
        parse_args(["--replicas", "0"])


def clusters(upstreams) -> dict:
    auth = SimpleNamespace(issuer="i", audience="a", jwks_path="/j")
    pki = SimpleNamespace(ca_path="/ca", cert_path=lambda name: f"/{name}.pem", key_path=lambda name: f"/{name}.key",
                          domain="recordstore.local")
    config = yaml.safe_load(render_config("127.0.0.1:2", 3, upstreams, auth, pki))
    return {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}


def endpoints(cluster) -> list[str]:
    return [f"{e['endpoint']['address']['socket_address']['address']}:{e['endpoint']['address']['socket_address']['port_value']}"
            for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]


def test_envoy_lists_each_replica_or_the_one_address_given():
    rendered = clusters({"customers": ["127.0.0.1:5", "127.0.0.1:6"], "catalog": "catalog:50052",
                        "orders": ["127.0.0.1:8"]})
    assert endpoints(rendered["customers"]) == ["127.0.0.1:5", "127.0.0.1:6"]
    assert endpoints(rendered["catalog"]) == ["catalog:50052"]  # a DNS name: STRICT_DNS finds every replica
    assert endpoints(rendered["orders"]) == ["127.0.0.1:8"]
    for cluster in (rendered[name] for name in ("customers", "catalog", "orders")):
        assert cluster["type"] == "STRICT_DNS"
        [check] = cluster["health_checks"]
        assert check["grpc_health_check"] == {} and "transport_socket_match_criteria" not in check
        assert cluster["outlier_detection"]["max_ejection_percent"] <= 50
