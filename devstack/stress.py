"""python -m devstack.stress: many clients buying and cancelling a few hot discs at once.

Bounded in time and in requests, on loopback only. Clients retry UNAVAILABLE and
DEADLINE_EXCEEDED with the same request_id, as a careful client would. At the end it prints
throughput, latency percentiles and the purchase counts, checks the invariant on the hot discs
(with --database-url, a superuser URL of the recordstore database) and exits 1 if the invariant
fails, a stock is negative, or any request got INTERNAL or failed for good.

Its customers sign up with tokens of their own and buy and cancel as themselves; the staff
restocks and creates the hot discs. The tokens come from the local stack's issuer (its key in
.data/auth, or --data-dir's), as `python -m devstack token` makes them.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg2
from google.type import money_pb2
from recordstore.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc
from recordstore.orders.v1 import orders_pb2, orders_pb2_grpc

from services.runtime import tls

from .credentials import DevIssuer, issuer_in
from .pki import pki_in
from .processes import REPO_ROOT
from .invariant import check
from .latency import percentile
from .loopback import require_loopback

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class Settings:
    customers: str = "127.0.0.1:50051"
    catalog: str = "127.0.0.1:50052"
    orders: str = "127.0.0.1:50053"
    database_url: str | None = None
    clients: int = 32
    duration: float = 20.0
    max_requests: int = 20_000
    discs: int = 4
    stock: int = 25
    cancel_ratio: float = 0.3
    call_timeout: float = 5.0
    seed: int | None = None
    issuer: DevIssuer | None = None  # whose tokens the stack trusts (default: .data/auth)

    def tokens(self) -> DevIssuer:
        issuer = self.issuer or issuer_in(Path(__file__).resolve().parent.parent / ".data" / "postgres")
        if not issuer.key_path.exists():
            raise Unreachable(f"no signing key in {issuer.directory}: start the stack with scripts/run first")
        return issuer


@dataclass
class Result:
    passed: bool
    text: str
    tally: "Tally"
    disc_ids: list[str]
    stocks: list[int]


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    create_ms: list = field(default_factory=list)
    cancel_ms: list = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # effective / not_effective / cancelled / restocks
    codes: Counter = field(default_factory=Counter)  # every non-OK status seen, retried or not
    failed: Counter = field(default_factory=Counter)  # requests that never succeeded
    retries: int = 0
    requests: int = 0


class Client:
    def __init__(self, settings: Settings, tally: Tally, deadline: float, budget: threading.Semaphore):
        self.settings, self.tally, self.deadline, self.budget = settings, tally, deadline, budget

    def call(self, method, request, samples: list, token: str) -> object | None:
        """Calls until OK, a non-retryable status, or the run's end; the same request each time."""
        started = time.perf_counter()
        metadata = (("authorization", f"Bearer {token}"),)
        while True:
            try:
                answer = method(request, timeout=self.settings.call_timeout, metadata=metadata)
                with self.tally.lock:
                    samples.append((time.perf_counter() - started) * 1000)
                return answer
            except grpc.RpcError as error:
                code = error.code()
                with self.tally.lock:
                    self.tally.codes[code.name] += 1
                if code not in RETRYABLE or time.monotonic() > self.deadline + 10:
                    with self.tally.lock:
                        self.tally.failed[code.name] += 1
                    return None
                with self.tally.lock:
                    self.tally.retries += 1
                time.sleep(0.05)

    def run(self, orders, catalog, tokens: dict[str, str], disc_ids: list[str], rng: random.Random) -> None:
        customer_ids = sorted(id for id in tokens if id != STAFF)
        while time.monotonic() < self.deadline and self.budget.acquire(blocking=False):
            if rng.random() < 0.02:  # now and then the staff restocks a hot disc
                restock = catalog_pb2.RestockDiscRequest(id=rng.choice(disc_ids), quantity=3)
                if self.call(catalog.RestockDisc, restock, [], tokens[STAFF]) is not None:
                    with self.tally.lock:
                        self.tally.outcomes["restocks"] += 1
            with self.tally.lock:
                self.tally.requests += 1
            buyer = rng.choice(customer_ids)
            request = orders_pb2.CreatePurchaseRequest(
                purchase=orders_pb2.Purchase(customer_id=buyer, disc_id=rng.choice(disc_ids),
                                             quantity=rng.choice((1, 1, 2))),
                request_id=str(uuid.uuid4()))
            bought = self.call(orders.CreatePurchase, request, self.tally.create_ms, tokens[buyer])
            if bought is None:
                continue
            with self.tally.lock:
                self.tally.outcomes["effective" if bought.effective else "not_effective"] += 1
            if bought.effective and rng.random() < self.settings.cancel_ratio:
                cancelled = self.call(orders.CancelPurchase, orders_pb2.CancelPurchaseRequest(id=bought.id),
                                      self.tally.cancel_ms, tokens[buyer])
                if cancelled is not None:
                    with self.tally.lock:
                        self.tally.outcomes["cancelled"] += 1


STAFF = "staff"  # the key of the staff's token among the customers' (see prepare)


def prepare(settings: Settings, rng: random.Random) -> tuple[dict[str, str], list[str]]:
    """Customers (each signed up with its own token) and hot discs of this run only (unique
    names), so runs never mix. Returns the tokens by customer id (and the staff's), and the discs."""
    run = uuid.uuid4().hex[:8]
    issuer = settings.tokens()
    ttl = settings.duration + settings.call_timeout + 120
    tokens = {STAFF: issuer.staff_token(f"stress-staff-{run}", ttl)}
    with tls.channel(settings.customers) as c, tls.channel(settings.catalog) as k:
        customers = customers_pb2_grpc.CustomerServiceStub(c)
        catalog = catalog_pb2_grpc.CatalogServiceStub(k)
        for i in range(8):
            token = issuer.customer_token(f"stress-{run}-{i}", ttl)
            signed_up = customers.CreateCustomer(customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(
                name=f"Stress {i}", email=f"stress-{run}-{i}@example.com")), timeout=10,
                metadata=(("authorization", f"Bearer {token}"),))
            tokens[signed_up.id] = token
        disc_ids = [catalog.CreateDisc(catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(
            title=f"Hot {i}", artist=f"Stress {run}", genre="Test", release_year=2000,
            price=money_pb2.Money(currency_code="BRL", units=rng.randint(10, 99)), stock=settings.stock)),
            timeout=10, metadata=(("authorization", f"Bearer {tokens[STAFF]}"),)).id for i in range(settings.discs)]
    return tokens, disc_ids


class Unreachable(Exception):
    """A service of the stack does not answer; the message names it and its address."""


def require_reachable(settings: Settings, timeout: float = 3.0) -> None:
    """Fails with one clear line, before any load, when a service cannot be reached."""
    for name in ("customers", "catalog", "orders"):
        address = getattr(settings, name)
        with tls.channel(address) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=timeout)
            except grpc.FutureTimeoutError:
                raise Unreachable(f"cannot reach {name} at {address}: is scripts/run running?") from None


def final_stocks(settings: Settings, disc_ids: list[str]) -> list[int] | None:
    """The hot discs' stock at the end; None when the catalog no longer answers."""
    try:
        with tls.channel(settings.catalog) as channel:
            catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
            return [catalog.GetDisc(catalog_pb2.GetDiscRequest(id=d), timeout=10).stock for d in disc_ids]
    except grpc.RpcError:
        return None


def run(settings: Settings) -> Result:
    """Runs the stress and checks what it left behind."""
    for address in (settings.customers, settings.catalog, settings.orders):
        require_loopback(address)
    require_reachable(settings)
    rng = random.Random(settings.seed)
    try:
        tokens, disc_ids = prepare(settings, rng)
    except grpc.RpcError as error:
        raise Unreachable(f"the stack stopped answering before the run began: {error.code().name}") from None
    tally = Tally()
    budget = threading.Semaphore(settings.max_requests)
    started = time.monotonic()
    deadline = started + settings.duration
    channels = [tls.channel(settings.orders) for _ in range(4)]
    catalog_channel = tls.channel(settings.catalog)
    catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
    threads = []
    for i in range(settings.clients):
        orders = orders_pb2_grpc.OrderServiceStub(channels[i % len(channels)])
        client = Client(settings, tally, deadline, budget)
        thread = threading.Thread(target=client.run, args=(orders, catalog, tokens, disc_ids,
                                                           random.Random(rng.random())), daemon=True)
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for channel in channels:
        channel.close()
    catalog_channel.close()
    stocks = final_stocks(settings, disc_ids)
    report, unchecked = None, None
    if settings.database_url:
        try:
            report = check(settings.database_url, disc_ids)
        except psycopg2.OperationalError as error:
            unchecked = str(error).strip().splitlines()[0]

    lines = [
        f"clients {settings.clients}, hot discs {settings.discs} x stock {settings.stock}, {elapsed:.1f}s",
        f"purchases sent {tally.requests}: {tally.requests / elapsed:.0f}/s "
        f"(effective {tally.outcomes['effective']}, not effective {tally.outcomes['not_effective']}, "
        f"cancelled {tally.outcomes['cancelled']}; restocks {tally.outcomes['restocks']})",
        "latency ms      p50     p90     p99     max",
    ]
    for name, samples in (("CreatePurchase", tally.create_ms), ("CancelPurchase", tally.cancel_ms)):
        lines.append(f"{name:<14} {percentile(samples, .5):7.1f} {percentile(samples, .9):7.1f} "
                     f"{percentile(samples, .99):7.1f} {max(samples, default=float('nan')):7.1f}")
    lines.append(f"statuses seen (retried included): {dict(tally.codes) or 'none'}; retries {tally.retries}; "
                 f"failed for good: {dict(tally.failed) or 'none'}")
    problems = []
    if stocks is None:
        lines.append(f"final stock of the hot discs: unknown, the catalog at {settings.catalog} no longer answers")
        problems.append("the stack stopped answering during the run")
    else:
        lines.append(f"final stock of the hot discs: {stocks}")
    if tally.codes.get("INTERNAL"):
        problems.append("INTERNAL answered")
    if tally.failed:
        problems.append("requests failed for good")
    if any(s < 0 for s in stocks or ()):
        problems.append("negative stock")
    if unchecked:
        lines.append(f"invariant: not checked, the database does not answer ({unchecked})")
        problems.append("invariant not checked")
    if report is not None:
        lines.extend(str(v) for v in report.violations)
        lines.append(f"invariant: {'holds' if report.ok else 'VIOLATED'} on {report.discs} disc(s)")
        if not report.ok:
            problems.append("invariant violated")
    lines.append("PASSED" if not problems else f"FAILED: {', '.join(problems)}")
    return Result(not problems, "\n".join(lines), tally, disc_ids, stocks or [])


def main(argv=None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m devstack.stress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("customers", "catalog", "orders"):
        parser.add_argument(f"--{name}", default=getattr(defaults, name), help=f"{name} service (loopback)")
    parser.add_argument("--database-url", help="superuser URL of the recordstore database, for the invariant "
                                               "(default: the embedded PostgreSQL in .data/postgres)")
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests)
    parser.add_argument("--discs", type=int, default=defaults.discs, help="hot discs")
    parser.add_argument("--stock", type=int, default=defaults.stock, help="initial stock of each hot disc")
    parser.add_argument("--cancel-ratio", type=float, default=defaults.cancel_ratio)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir", type=Path, help="the data directory given to scripts/run, whose signing key "
                                                      "makes the tokens (default: .data/postgres)")
    args = parser.parse_args(argv)
    data_dir = args.__dict__.pop("data_dir")
    if not os.environ.get("TLS_CERT_FILE"):  # mutual TLS as the stack's `client`, no service's identity
        os.environ.update(pki_in(data_dir or REPO_ROOT / ".data" / "postgres").env("client"))
    settings = Settings(**{k: v for k, v in vars(args).items()}, issuer=issuer_in(data_dir) if data_dir else None)
    try:
        require_reachable(settings)
        if settings.database_url is None:
            from .postgres import DATABASE, start_embedded
            from .processes import REPO_ROOT
            settings.database_url = start_embedded(REPO_ROOT / ".data" / "postgres").in_database(DATABASE).admin_url
        result = run(settings)
    except Unreachable as error:
        print(f"stress: {error}", file=sys.stderr)
        return 2
    print(result.text)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
