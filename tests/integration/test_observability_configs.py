"""The compose `observability` profile's configs agree with what the services export: the
compose file with the profile, Prometheus's scrape targets, the collector's pipeline, and every
metric the Grafana dashboard queries (the services' own names from their registry, Envoy's from
a live gateway's /stats/prometheus)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request

import pytest
import yaml
from prometheus_client import REGISTRY

import services.runtime.batching  # noqa: F401  (the modules that register the services' metrics)
import services.runtime.feed  # noqa: F401
import services.runtime.metrics  # noqa: F401
import services.runtime.request_checks  # noqa: F401
from devstack.processes import REPO_ROOT

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
PROFILE = ("otel-collector", "jaeger", "prometheus", "grafana")
DASHBOARD = json.loads((OBSERVABILITY / "grafana" / "dashboards" / "recordstore.json").read_text())


def exported_names() -> set[str]:
    """Every sample name the services' registry can produce."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return names


def queried_names() -> set[str]:
    """The metric names in the dashboard's queries (ours and Envoy's, by their prefixes)."""
    names = set()
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            # Label matchers and grouping clauses name labels, not metrics: out first.
            expr = re.sub(r"\{[^}]*\}", "", target["expr"])
            expr = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", expr)
            names |= set(re.findall(r"\b((?:grpc|db|recordstore|envoy)_[a-z0-9_]+)\b", expr))
    return names


def test_the_compose_file_with_the_profile_is_valid():
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "--profile", "observability", "config", "-q"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in PROFILE:
        assert COMPOSE["services"][name]["profiles"] == ["observability"], name


def test_prometheus_scrapes_each_service_on_its_metrics_port_and_envoy_on_its_admin_port():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    targets = {job["job_name"]: (job.get("metrics_path", "/metrics"), job["static_configs"][0]["targets"][0])
               for job in config["scrape_configs"]}
    for name in ("customers", "catalog", "orders"):
        port = COMPOSE["services"][name]["environment"]["METRICS_ADDR"].rsplit(":", 1)[1]
        assert targets[name] == ("/metrics", f"{name}:{port}")
    admin = COMPOSE["services"]["gateway"]["environment"]["ADMIN_PORT"]
    assert targets["gateway"] == ("/stats/prometheus", f"gateway:{admin}")
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    result = subprocess.run(["promtool", "check", "config", str(OBSERVABILITY / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_collector_sends_what_it_receives_over_otlp_to_jaeger():
    config = yaml.safe_load((OBSERVABILITY / "otel-collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert [config["exporters"][name]["endpoint"] for name in pipeline["exporters"]] == ["jaeger:4317"]


def test_the_dashboard_queries_only_metrics_the_services_export():
    ours = {name for name in queried_names() if not name.startswith("envoy_")}
    assert ours, "the dashboard queries none of the services' metrics"
    assert ours <= exported_names(), f"not exported: {sorted(ours - exported_names())}"
    for wanted in ("grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "recordstore_purchases_total",
                   "db_pool_connections_in_use", "recordstore_recovery_backlog_purchases"):
        assert wanted in ours, wanted
    provider = yaml.safe_load((OBSERVABILITY / "grafana" / "provisioning" / "dashboards" / "recordstore.yaml").read_text())
    mount = next(v for v in COMPOSE["services"]["grafana"]["volumes"] if v.startswith("./deploy/observability/grafana/dashboards:"))
    assert mount.split(":")[1] == provider["providers"][0]["options"]["path"]
