"""A seconds-long run of the benchmark, to keep it working (its figures mean nothing here)."""

import shutil
import subprocess
import sys

import pytest

from bench.compare import parse_table
from tests.support import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("wrk") is None, reason="Debian's wrk is not installed (.ci/run installs it)")
def test_the_benchmark_runs_and_prints_its_table():
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("pgbench: purchase SQL", "gRPC CreatePurchase", "JSON CreatePurchase via Envoy", "monolith JSON purchase", "GetDisc @", "catalog health Check @", "the median of the rounds",
                 "ListDiscs, all four @", "EXPLAIN: no sequential scan", "invariant on the purchased discs",
                 "feed lag, commit to delivery, during gRPC CreatePurchase round 1: p50"):
        assert line in result.stdout, f"missing {line!r} in:\n{result.stdout}"
    assert "gRPC purchases/s >= 0.25 x pgbench TPS" in result.stdout
    assert "JSON purchases/s >= 1.0 x the monolith" in result.stdout
    for line in ("cpu ms per purchase, JSON CreatePurchase via Envoy: ", "cpu ms per purchase, monolith JSON purchase: ",
                 "cpu ms per purchase, JSON <= 1.2 x the monolith's"):
        assert line in result.stdout, f"missing {line!r} in:\n{result.stdout}"
    # bench.compare reads the same CPU per purchase from the table's columns, for either side.
    figures = parse_table(result.stdout)
    assert figures["cpu ms per JSON purchase: total"] > figures["cpu ms per JSON purchase: orders"] > 0
    assert figures["cpu per JSON purchase / the monolith's"] > 0
