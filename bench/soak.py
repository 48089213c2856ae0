"""python -m bench.soak: ordinary traffic beside the abuse the gateway's limits are for, for a
bounded time, against a running stack (scripts/run); loopback only.

Ordinary clients (--clients) browse the catalog and buy, as JSON through the gateway: customers
signed up with tokens of their own, hot discs of this run only. Beside them, for the whole run:
--abusers anonymous gRPC clients, each from a loopback address of its own (127.0.0.2...), send
unary calls with no message (HEADERS with END_STREAM, no DATA) to CatalogService/GetDisc, 16 on a
connection, again and again; and one client keeps --idle connections open without a word,
opening again those the gateway closes. It prints the ordinary requests' success rate and
latency (p50, p99, max), the abusers' answers by gRPC status, every process's memory (envoy, the
services, postgres: RSS; postgres's processes together as PSS) at the start, the middle and the
end, and checks the stock invariant on the run's discs. Exit 1 when the invariant fails or fewer
ordinary requests succeeded than --min-success percent; 2 when the stack cannot be reached.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devstack.credentials import DevIssuer, issuer_in
from devstack.invariant import check
from devstack.latency import percentile
from devstack.loopback import require_loopback
from devstack.processes import REPO_ROOT
from devstack.runfile import read_record, run_file_of

from .h2c import H2cConnection

GET_DISC = "/recordstore.catalog.v1.CatalogService/GetDisc"


@dataclass
class Settings:
    gateway: str = "127.0.0.1:8080"
    duration: float = 600.0
    clients: int = 8
    abusers: int = 4
    idle: int = 200
    discs: int = 4
    stock: int = 50
    max_requests: int = 2_000_000  # ordinary requests at most, whatever the duration
    min_success: float = 99.9  # percent of ordinary requests that must succeed
    issuer: DevIssuer | None = None
    database_url: str | None = None
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid, whose memory is printed
    seed: int | None = None


class Unreachable(Exception):
    """The stack does not answer; the message says where."""


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"browse": [], "buy": []})
    statuses: Counter = field(default_factory=Counter)  # ordinary answers: "browse 200", "buy 503"...
    abuse: Counter = field(default_factory=Counter)  # the abusers' answers by gRPC status
    idle_opened: int = 0
    idle_closed_by_gateway: int = 0

    def ordinary(self, kind: str, status: int | str, took_ms: float) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1
            if status == 200:
                self.latencies[kind].append(took_ms)


class Json:
    """One keep-alive HTTP/1.1 connection to the gateway, as a browser or an app holds one."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, token: str | None = None, body: dict | None = None):
        headers = {"content-type": "application/json"} if body is not None else {}
        if token:
            headers["authorization"] = f"Bearer {token}"
        for attempt in (1, 2):  # a kept connection the gateway closed meanwhile is opened again once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                answer = self.conn.getresponse()
                text = answer.read()
                if answer.getheader("connection", "").lower() == "close":
                    self.close()
                return answer.status, (json.loads(text) if text.startswith(b"{") else {})
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def prepare(settings: Settings, run: str) -> tuple[dict[str, str], list[str], str]:
    """Customers of this run (each signed up with a token of its own), hot discs, the staff's token."""
    issuer = settings.issuer
    ttl = settings.duration + 600
    staff = issuer.staff_token(f"soak-staff-{run}", ttl)
    client = Json(settings.gateway)
    tokens = {}
    try:
        for i in range(max(2, settings.clients)):
            token = issuer.customer_token(f"soak-{run}-{i}", ttl)
            status, body = client.request("POST", "/v1/customers", token,
                                          {"name": f"Soak {i}", "email": f"soak-{run}-{i}@example.com"})
            if status != 200:
                raise Unreachable(f"signing up a customer answered {status}: {body}")
            tokens[body["id"]] = token
        discs = []
        for i in range(settings.discs):
            status, body = client.request("POST", "/v1/discs", staff, {
                "title": f"Soak {i}", "artist": f"Soak {run}", "genre": "Test", "release_year": 2000,
                "price": {"currency_code": "BRL", "units": 30 + i, "nanos": 0}, "stock": settings.stock})
            if status != 200:
                raise Unreachable(f"creating a disc answered {status}: {body}")
            discs.append(body["id"])
    except OSError as error:
        raise Unreachable(f"cannot reach the gateway at {settings.gateway}: {error}") from None
    finally:
        client.close()
    return tokens, discs, staff


def ordinary_client(settings, tally, tokens, discs, staff, stop: threading.Event, budget, rng) -> None:
    client = Json(settings.gateway)
    buyers = sorted(tokens)
    try:
        while not stop.is_set() and budget.acquire(blocking=False):
            roll = rng.random()
            started = time.perf_counter()
            try:
                if roll < 0.6:
                    kind = "browse"
                    path = f"/v1/discs/{rng.choice(discs)}" if roll < 0.3 else "/v1/discs?page_size=10&genre=test"
                    status, _ = client.request("GET", path)
                elif roll < 0.98:
                    kind = "buy"
                    buyer = rng.choice(buyers)
                    status, body = client.request("POST", "/v1/purchases", tokens[buyer], {
                        "customer_id": buyer, "disc_id": rng.choice(discs), "quantity": 1,
                        "request_id": str(uuid.uuid4())})
                    if status == 200 and body.get("effective") and rng.random() < 0.3:
                        tally.ordinary(kind, status, (time.perf_counter() - started) * 1000)
                        started = time.perf_counter()
                        status, _ = client.request("POST", f"/v1/purchases/{body['id']}:cancel", tokens[buyer])
                else:
                    kind = "buy"  # now and then the staff restocks, so that purchases stay effective
                    status, _ = client.request("POST", f"/v1/discs/{rng.choice(discs)}:restock", staff, {"quantity": 5})
            except OSError as error:
                status = type(error).__name__
            tally.ordinary(kind, status, (time.perf_counter() - started) * 1000)
    finally:
        client.close()


def message_less_calls(settings, tally, source: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with H2cConnection(settings.gateway, source=source, timeout=5) as connection:
                for _ in range(16):
                    connection.call(GET_DISC)
                answers = connection.answers(timeout=15).values()
            with tally.lock:
                for answer in answers:
                    tally.abuse[answer.grpc_status if answer.grpc_status is not None else
                                f"reset {answer.reset}" if answer.reset is not None else "unanswered"] += 1
        except OSError as error:
            with tally.lock:
                tally.abuse[type(error).__name__] += 1
            stop.wait(0.5)


def idle_connections(settings, tally, stop: threading.Event) -> None:
    """Keeps `settings.idle` connections open without a word, opening again those closed."""
    host, _, port = settings.gateway.rpartition(":")
    held: list[socket.socket] = []
    try:
        while not stop.is_set():
            while len(held) < settings.idle and not stop.is_set():
                try:
                    held.append(socket.create_connection((host, int(port)), timeout=2,
                                                         source_address=("127.0.0.100", 0)))
                    tally.idle_opened += 1
                except OSError:
                    break
            stop.wait(0.5)
            for sock in list(held):
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    tally.idle_closed_by_gateway += 1
                    held.remove(sock)
                    sock.close()
    finally:
        for sock in held:
            sock.close()


def memory(processes: dict[str, int]) -> dict[str, str]:
    """Each process's RSS; postgres's processes (the server and its backends) together as PSS,
    since their shared buffers count in every one's RSS."""
    shown = {}
    for name, pid in processes.items():
        try:
            process = psutil.Process(pid)
            if name == "postgres":
                tree = [process, *process.children(recursive=True)]
                total = sum(p.memory_full_info().pss for p in tree if p.is_running())
                shown[name] = f"{total / 2**20:.0f} MiB PSS ({len(tree)} processes)"
            else:
                shown[name] = f"{process.memory_info().rss / 2**20:.0f} MiB"
        except psutil.Error:
            shown[name] = "gone"
    return shown


def run(settings: Settings) -> tuple[bool, str]:
    require_loopback(settings.gateway)
    rng = random.Random(settings.seed)
    run_id = uuid.uuid4().hex[:8]
    tokens, discs, staff = prepare(settings, run_id)
    tally, stop = Tally(), threading.Event()
    budget = threading.Semaphore(settings.max_requests)
    samples = [("start", memory(settings.processes))]
    threads = [threading.Thread(target=ordinary_client, daemon=True,
                                args=(settings, tally, tokens, discs, staff, stop, budget, random.Random(rng.random())))
               for _ in range(settings.clients)]
    threads += [threading.Thread(target=message_less_calls, args=(settings, tally, f"127.0.0.{2 + n}", stop), daemon=True)
                for n in range(settings.abusers)]
    if settings.idle:
        threads.append(threading.Thread(target=idle_connections, args=(settings, tally, stop), daemon=True))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(settings.duration / 2)
    samples.append(("middle", memory(settings.processes)))
    stop.wait(max(0.0, started + settings.duration - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    samples.append(("end", memory(settings.processes)))

    total = sum(tally.statuses.values())
    ok = sum(count for key, count in tally.statuses.items() if key.endswith(" 200"))
    rate = 100.0 * ok / total if total else 0.0
    lines = [f"soak {elapsed:.0f}s: {settings.clients} ordinary clients, {settings.abusers} message-less gRPC "
             f"abusers, {settings.idle} idle connections held",
             f"ordinary requests {total}: {rate:.3f}% succeeded ({total / elapsed:.0f}/s); "
             f"answers {dict(sorted(tally.statuses.items()))}",
             "latency ms          p50      p99      max"]
    for kind, values in tally.latencies.items():
        lines.append(f"{kind:<12} {percentile(values, 0.5):8.1f} {percentile(values, 0.99):8.1f} "
                     f"{max(values, default=float('nan')):8.1f}")
    lines.append(f"abusers' answers by grpc-status: {dict(sorted(tally.abuse.items(), key=str))}")
    lines.append(f"idle connections opened {tally.idle_opened}, closed by the gateway {tally.idle_closed_by_gateway}")
    for when, shown in samples:
        lines.append(f"memory at {when:<6} " + ", ".join(f"{name} {value}" for name, value in shown.items()))
    problems = []
    if rate < settings.min_success:
        problems.append(f"ordinary success {rate:.3f}% < {settings.min_success}%")
    if settings.database_url:
        report = check(settings.database_url, discs)
        lines.extend(str(v) for v in report.violations)
        lines.append(f"invariant: {'holds' if report.ok else 'VIOLATED'} on {report.discs} disc(s)")
        if not report.ok:
            problems.append("invariant violated")
    else:
        lines.append("invariant: not checked (no database)")
    lines.append("PASSED" if not problems else f"FAILED: {', '.join(problems)}")
    return not problems, "\n".join(lines)


def processes_of(data_dir: Path) -> dict[str, int]:
    """What scripts/run runs on `data_dir`: its run file's processes and the PostgreSQL server."""
    from devstack.postgres import postmaster_pid

    record = read_record(run_file_of(data_dir).read_text()) if run_file_of(data_dir).exists() else {}
    found = {("envoy" if name == "gateway" else name): pid for name, (pid, _) in (record.get("children") or {}).items()}
    postgres = postmaster_pid(data_dir)
    if postgres:
        found["postgres"] = postgres
    return found


def main(argv=None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default=defaults.gateway, help="the gateway's address (loopback)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres",
                        help="the data directory given to scripts/run: its signing key makes the tokens, its run "
                             "file names the processes, its PostgreSQL is checked (default: .data/postgres)")
    parser.add_argument("--minutes", type=float, default=defaults.duration / 60)
    parser.add_argument("--clients", type=int, default=defaults.clients, help="ordinary clients")
    parser.add_argument("--abusers", type=int, default=defaults.abusers, help="message-less gRPC clients")
    parser.add_argument("--idle", type=int, default=defaults.idle, help="idle connections held")
    parser.add_argument("--min-success", type=float, default=defaults.min_success, help="percent")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 60:
        parser.error("--minutes: more than 0, at most 60")
    if not (0 <= args.abusers <= 50 and 0 <= args.idle <= 2000 and 1 <= args.clients <= 64):
        parser.error("--abusers at most 50, --idle at most 2000, --clients from 1 to 64")
    require_loopback(args.gateway)
    data_dir = args.data_dir.resolve()
    issuer = issuer_in(data_dir)
    processes = processes_of(data_dir)
    if not issuer.key_path.exists() or "postgres" not in processes:
        print(f"soak: no stack runs on {data_dir}: start it with scripts/run (--data-dir) first", file=sys.stderr)
        return 2
    from devstack.postgres import DATABASE, start_embedded

    database_url = start_embedded(data_dir).in_database(DATABASE).admin_url  # the running server, as it is
    settings = Settings(gateway=args.gateway, duration=args.minutes * 60, clients=args.clients, abusers=args.abusers,
                        idle=args.idle, min_success=args.min_success, issuer=issuer, database_url=database_url,
                        processes=processes, seed=args.seed)
    try:
        passed, text = run(settings)
    except Unreachable as error:
        print(f"soak: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
