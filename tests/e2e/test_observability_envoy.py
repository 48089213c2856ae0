"""Envoy's own metrics, on its admin port's /stats/prometheus, carry the names the dashboard queries."""

from __future__ import annotations

import re
import urllib.request

from tests.integration.test_observability_configs import queried_names


def test_the_dashboard_queries_envoy_metrics_the_gateway_exports(gateway, api):
    assert api.request("GET", "/v1/discs", query={"page_size": 1}).status == 200  # a request, so its histograms exist
    with urllib.request.urlopen(f"{gateway.admin_url}/stats/prometheus", timeout=5) as answer:
        text = answer.read().decode()
    exported = set(re.findall(r"^([a-z_:][a-z0-9_:]*)[{ ]", text, re.MULTILINE))
    envoy = {name for name in queried_names() if name.startswith("envoy_")}
    assert envoy, "the dashboard queries none of Envoy's metrics"
    assert envoy <= exported, f"not exported: {sorted(envoy - exported)}"
