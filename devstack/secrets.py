"""Secrets a local stack's services share, made once and kept beside the database's data."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

PAGE_TOKEN_SECRET = "PAGE_TOKEN_SECRET"


def stored_secret(path: Path) -> str:
    """The secret in `path`, created (64 hex characters, readable by its owner only) on first use.

    Kept on disk so that page tokens survive a restart of `scripts/run`, as the data does.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


def shared_env(directory: Path, services: Iterable[str], env: Mapping[str, str] = os.environ) -> dict[str, dict[str, str]]:
    """The extra environment of each service (ServiceStack.extra_env): one PAGE_TOKEN_SECRET for
    all, so any replica or restart accepts a token. A PAGE_TOKEN_SECRET already set wins."""
    if env.get(PAGE_TOKEN_SECRET):
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    value = stored_secret(directory / "page-token-secret")
    return {name: {PAGE_TOKEN_SECRET: value} for name in services}
