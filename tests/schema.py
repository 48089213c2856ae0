"""Each service's schema as its migrations build it, dumped by pg_dump and normalised, so that a
reviewer reads the schema whole (services/<name>/schema.sql) and a test holds the two together.

    .venv/bin/python -m tests.schema      # writes services/<name>/schema.sql from a fresh database
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.postgres import SERVICES, bin_path, start_embedded, stop_embedded
from services.runtime.migrations import migrate
from tests.support import MIGRATIONS, REPO_ROOT

HEADER = ("-- The {name} schema as its migrations build it (pg_dump --schema-only, normalised by\n"
          "-- tests/schema.py). Generated: change a migration, then run `.venv/bin/python -m tests.schema`.\n")
# What changes with the pg_dump version or the run, not with the schema: comments, SET lines, the
# search_path call, PostgreSQL 18's per-dump \restrict key.
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config\(.*|\\(un)?restrict .*)$")


def schema_file(name: str) -> Path:
    return REPO_ROOT / "services" / name / "schema.sql"


def normalize(dump: str) -> str:
    lines = [line.rstrip() for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n"


def dump(admin_url: str, name: str) -> str:
    """The normalised schema `name` of the database at `admin_url`."""
    result = subprocess.run([str(bin_path("pg_dump")), "--schema-only", "--no-owner", "--no-privileges",
                             f"--schema={name}", admin_url], check=True, capture_output=True, text=True)
    return HEADER.format(name=name) + "\n" + normalize(result.stdout)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="schema-") as scratch:
        cluster = start_embedded(Path(scratch) / "data").provision()
        try:
            for name in SERVICES:
                migrate(cluster.service_url(name), name, MIGRATIONS[name])
                schema_file(name).write_text(dump(cluster.admin_url, name))
                print(f"wrote {schema_file(name).relative_to(REPO_ROOT)}")
        finally:
            stop_embedded(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
