"""The monolith peer's life in a benchmark run: its own virtual environment (its pinned
dependencies, installed once and kept), its tables, its gunicorn, and its stop."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from devstack.loopback import free_port
from devstack.processes import REPO_ROOT, dying_with_parent, stop
from services.runtime.queries import load_queries

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
QUERIES = load_queries(HERE / "schema.sql")
WORKERS = 5  # as the peer: gunicorn's sync workers, one kept connection each


def environment(directory: Path, log=print) -> Path:
    """A venv at `directory` with requirements.txt installed; reused while that file is unchanged.
    Returns its python."""
    python = directory / "bin" / "python"
    stamp = directory / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"installing the monolith peer's dependencies into {directory} (once)")
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def create_tables(admin_url: str, customer_ids: list[str], disc_ids: list[str]) -> None:
    """The monolith's schema, made anew with copies of the customers and discs it will sell."""
    conn = psycopg2.connect(admin_url)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(QUERIES["create_schema"])
            cursor.execute(QUERIES["copy_customers"], {"ids": sorted(set(customer_ids))})
            cursor.execute(QUERIES["copy_discs"], {"ids": sorted(set(disc_ids))})
    finally:
        conn.close()


def purchases(admin_url: str) -> tuple[int, int]:
    """(purchases, effective ones) the monolith recorded."""
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(QUERIES["count_purchases"])
            return cursor.fetchone()
    finally:
        conn.close()


@dataclass
class Monolith:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        stop([self.process])


def start(python: Path, database_url: str, log_path: Path, timeout: float = 60.0) -> Monolith:
    """gunicorn with WORKERS sync workers on a free loopback port; returns once it answers."""
    port = free_port()
    command = [str(python), "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
               "--bind", f"127.0.0.1:{port}", "bench.monolith.app:app"]
    output = open(log_path, "ab")
    process = subprocess.Popen(dying_with_parent(command), cwd=REPO_ROOT, stdout=output, stderr=output,
                               env={**os.environ, "MONOLITH_DATABASE_URL": database_url})
    monolith = Monolith(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the monolith exited ({process.returncode}); see {log_path}")
        try:
            # A GET on the POST-only route: 405 proves a worker is up, without buying anything.
            urllib.request.urlopen(f"{monolith.url}/purchases", timeout=1)
        except urllib.error.HTTPError:
            return monolith
        except OSError:
            time.sleep(0.2)
    monolith.stop()
    raise RuntimeError(f"the monolith did not answer within {timeout:.0f}s; see {log_path}")
