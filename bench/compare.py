"""python -m bench.compare --base REV: this tree's benchmark and REV's, side by side, in one run.

A change that can cost speed is judged against the commit before it on the same machine at the
same time: figures taken an hour apart on these noisy 2-core machines differ by 10-25% alone.
This command exports REV into a temporary folder, then runs `python -m bench` from REV and from
this tree in turn (base, head, base, head... for --pairs pairs), each a whole run with its own
stack and its own data directory (the two trees' schemas may differ), and prints each figure of
both sides with the head/base ratio of their medians.

Any other argument goes to both benchmarks unchanged (e.g. --duration 5 --discs 200000).

The cost of observability: `--head-env NAME=VALUE` (repeatable) sets a variable for this tree's
runs only, and `--tracing RATIO` runs an OTLP sink (bench/otlp_sink.py) and has this tree's
services trace a RATIO of their requests to it (1 = every one):

    python -m bench.compare --base <before metrics> --duration 3          # metrics alone
    python -m bench.compare --base <before metrics> --tracing 0.1         # metrics + 10% traced
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from devstack.loopback import free_address
from devstack.processes import REPO_ROOT, dying_with_parent

from .__main__ import JSON_PURCHASE, MONOLITH, PROCESSES, cpu_per_request

# The figures compared, as the benchmark's table names them: (label, phase prefix, column).
FIGURES = [
    ("gRPC CreatePurchase req/s (median of rounds)", "gRPC CreatePurchase, round", "req/s"),
    ("pgbench purchase SQL TPS (median of rounds)", "pgbench: purchase SQL", "req/s"),
    ("JSON CreatePurchase via Envoy req/s", "JSON CreatePurchase via Envoy", "req/s"),
    ("monolith JSON purchase req/s", "monolith JSON purchase", "req/s"),
    ("gRPC CreatePurchase p99 ms at half peak", "gRPC CreatePurchase @", "p99"),
    ("GetDisc req/s", "GetDisc", "req/s"),
    ("GetDisc p99 ms at half peak", "GetDisc @", "p99"),
]
TARGETS = {  # the ratio lines of the table, by their label's start
    "gRPC/pgbench ratio": "gRPC purchases/s >=",
    "JSON/gRPC ratio": "JSON purchases/s >= 0.85",
    "JSON/monolith ratio": "JSON purchases/s >= 1.0 x the monolith",
    "ListDiscs worst p99 ms at half peak": "ListDiscs p99 at half peak",
}
_ROW = re.compile(r"^(?P<name>.{40})\s*(?P<rps>[\d.]+)\s+(?P<p50>[\d.]+)\s+(?P<p90>[\d.]+)\s+(?P<p99>[\d.]+)\s+\d+"
                  r"(?P<cpu>(?:\s+[\d.]+)+)$")
# CPU per JSON purchase, from each side's table (its cpu columns), as the benchmark prints it for its own.
CPU_FIGURES = [f"cpu ms per JSON purchase: {name}" for name in [*PROCESSES[:4], PROCESSES[5], "total"]]
CPU_RATIO = "cpu per JSON purchase / the monolith's"
_TARGET = re.compile(r"^(?:PASS|MISS)\s+(?P<label>.+): (?P<value>[\d.]+)$")


def parse_table(text: str) -> dict[str, float]:
    """The compared figures of one benchmark's printed table."""
    rows: dict[str, list[dict]] = {}
    for line in text.splitlines():
        if match := _ROW.match(line):
            values = {"req/s": float(match["rps"]), "p99": float(match["p99"]),
                      "cpu": dict(zip(PROCESSES, map(float, match["cpu"].split()), strict=False))}
            rows.setdefault(match["name"].strip(), []).append(values)
    figures = {}
    for label, prefix, column in FIGURES:
        found = [v[column] for name, vs in rows.items() if name.startswith(prefix) for v in vs
                 if not (prefix == "GetDisc" and "@" in name)]
        if found:
            figures[label] = statistics.median(found)
    ours, mono = ([(v["req/s"], v["cpu"]) for name, vs in rows.items() if name.startswith(prefix) for v in vs]
                  for prefix in (JSON_PURCHASE, MONOLITH))
    if ours and mono:
        cpu, mono_cpu = cpu_per_request(ours), cpu_per_request(mono)
        figures.update({label: cpu[label.rsplit(" ", 1)[1]] for label in CPU_FIGURES})
        figures[CPU_RATIO] = cpu["total"] / mono_cpu["total"] if mono_cpu["total"] else float("nan")
    for line in text.splitlines():
        if match := _TARGET.match(line.strip()):
            for label, start in TARGETS.items():
                if match["label"].startswith(start):
                    figures[label] = float(match["value"])
    return figures


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` (tracked files only) in a fresh folder."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_bench(tree: Path, data_dir: Path, bench_args: list[str], log, extra_env: dict | None = None) -> str:
    """One whole benchmark run from `tree`: its services, its SQL, its data directory."""
    # The tree first on the path, so that its own packages (and generated stubs) are imported
    # rather than those the virtual environment installed in editable mode.
    env = {**os.environ, **(extra_env or {}), "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "protos")])}
    result = subprocess.run([sys.executable, "-m", "bench", "--data-dir", str(data_dir), *bench_args],
                            cwd=tree, env=env, capture_output=True, text=True)
    log.write(result.stdout + result.stderr)
    log.flush()
    if not parse_table(result.stdout):
        raise SystemExit(f"the benchmark from {tree} printed no table (exit {result.returncode}); "
                         f"its output is in {log.name}")
    return result.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. HEAD~3, main)")
    parser.add_argument("--pairs", type=int, default=2, help="base/head runs, alternating (default 2)")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".data" / "compare",
                        help="data directories of both sides, kept for the next run (default .data/compare)")
    parser.add_argument("--head-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable for this tree's runs only (repeatable)")
    parser.add_argument("--tracing", type=float, metavar="RATIO",
                        help="this tree's services trace this share of requests to an OTLP sink (0-1)")
    args, bench_args = parser.parse_known_args(argv)
    head_env = dict(item.split("=", 1) for item in args.head_env)
    sink = None
    if args.tracing is not None:
        address = free_address()
        sink = subprocess.Popen(dying_with_parent([sys.executable, "-m", "bench.otlp_sink", address]), cwd=REPO_ROOT)
        head_env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{address}", OTEL_EXPORTER_OTLP_INSECURE="true",
                        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG=str(args.tracing))
    base_rev = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", args.base],
                              check=True, capture_output=True, text=True).stdout.strip()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    log_path = args.work_dir / "compare.log"
    with tempfile.TemporaryDirectory(prefix="recordstore-base-") as tmp, open(log_path, "w") as log:
        sides = {"base": export(base_rev, Path(tmp)), "head": REPO_ROOT}
        results: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for number in range(1, args.pairs + 1):
            for side, tree in sides.items():
                print(f"run {number}/{args.pairs}: {side} ({base_rev if side == 'base' else 'this tree'})...",
                      file=sys.stderr, flush=True)
                results[side].append(parse_table(run_bench(tree, args.work_dir / side, bench_args, log,
                                                           head_env if side == "head" else None)))
    if sink is not None:
        sink.terminate()
        sink.wait(10)
    print(f"\nbase {base_rev} vs this tree, {args.pairs} alternating run(s) each, "
          f"bench arguments: {' '.join(bench_args) or '(defaults)'}; full output in {log_path}")
    print(f"this tree's own environment: {' '.join(f'{k}={v}' for k, v in head_env.items()) or '(none)'}\n")
    print(f"{'figure':<46}{'base runs':>22}{'head runs':>22}{'head/base':>11}")
    for label in [f[0] for f in FIGURES] + list(TARGETS) + CPU_FIGURES + [CPU_RATIO]:
        base = [r[label] for r in results["base"] if label in r]
        head = [r[label] for r in results["head"] if label in r]
        if not base or not head:
            continue
        ratio = statistics.median(head) / statistics.median(base) if statistics.median(base) else float("nan")
        print(f"{label:<46}{', '.join(f'{v:.2f}' for v in base):>22}{', '.join(f'{v:.2f}' for v in head):>22}"
              f"{ratio:>11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
