"""Named queries: a .sql file of blocks headed `-- name: <query_name>`, loaded into a dict.

Comment lines stay in the file, for the reader, and out of the statement sent: every call would
otherwise ship them for psycopg2 to scan and PostgreSQL to lex.
"""

from __future__ import annotations

import re
from pathlib import Path

# Every loaded statement's name, by its text: what a trace calls it (tracing.sql_span).
NAMES: dict[str, str] = {}

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(path: Path) -> dict[str, str]:
    text = path.read_text()
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{path}: query {name!r} is defined twice")
        sql = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        if not sql:
            raise ValueError(f"{path}: query {name!r} is empty")
        queries[name] = sql
        NAMES[sql] = name
    return queries
