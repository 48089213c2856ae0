"""The CPU per request the benchmark prints, and bench.compare reads from either side's table."""

import pytest

from bench.__main__ import cpu_per_request


def test_the_rounds_count_together_each_process_and_the_total():
    # Two rounds of the same length: 400/s with orders 0.4 cores busy, then 600/s with 0.8.
    cpu = cpu_per_request([(400, {"orders": 0.4, "postgres": 0.2}), (600, {"orders": 0.8, "postgres": 0.3})])
    assert cpu["orders"] == pytest.approx(1000 * 1.2 / 1000)  # 1.2 cores over 1,000 requests a second: 1.2 ms
    assert cpu["postgres"] == pytest.approx(0.5)
    assert cpu["envoy"] == 0
    assert cpu["total"] == pytest.approx(1.7)


def test_no_requests_is_no_cpu_per_request_rather_than_a_division_by_zero():
    assert cpu_per_request([])["total"] == 0
