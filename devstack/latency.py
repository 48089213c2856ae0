"""Latency percentiles, one rule for every tool that prints them (stress, load generator, bench)."""

from __future__ import annotations


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank on the sorted samples; NaN when there are none."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict:
    """p50, p90, p99 and max, rounded to 0.01 (ms in, ms out)."""
    if not samples:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(samples)
    return {f"p{int(q * 100)}": round(percentile(ordered, q), 2) for q in (0.5, 0.9, 0.99)} | {
        "max": round(ordered[-1], 2)}
