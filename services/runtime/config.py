"""Configuration from environment variables, checked at start so a wrong value fails fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def address(name: str, default: str | None = None, env: Mapping[str, str] = os.environ) -> str:
    """A `host:port` setting, such as LISTEN_ADDR or CATALOG_ADDR."""
    value = env.get(name, default)
    if not value:
        raise ConfigError(f"{name} is not set (expected host:port, e.g. 127.0.0.1:50052)")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name}={value!r} is not host:port (e.g. 127.0.0.1:50052)")
    return value


def optional_address(name: str, default: str, env: Mapping[str, str] = os.environ) -> str | None:
    """A `host:port` setting that may be `off` (None), such as METRICS_ADDR."""
    if env.get(name, default).strip().lower() == "off":
        return None
    return address(name, default, env)


def database_url(name: str = "DATABASE_URL", env: Mapping[str, str] = os.environ) -> str:
    value = env.get(name, "")
    if not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{name} must be a postgresql:// URL, got {value!r}")
    return value


def positive_int(name: str, default: int, env: Mapping[str, str] = os.environ) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive integer")
    return int(raw)


def seconds(name: str, default: float, env: Mapping[str, str] = os.environ) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds")
    return value


# The limits every service connection sets for itself at connect (libpq `options`), the values
# db/provision.sql gives each role too: a role that holds its password could lift its own
# settings (`ALTER ROLE catalog SET statement_timeout = 0`, which covers the service's later
# connections), but not what a connection asks for itself. A statement: 5 s (a purchase's take
# milliseconds; a stuck one must not hold locks and connections). Idle inside a transaction:
# 10 s (a unit of work waits on nothing but its own statements; one that stalls holds its locks).
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 5.0
DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 10.0


def database_session_options(env: Mapping[str, str]) -> str:
    """libpq `options` setting DB_STATEMENT_TIMEOUT_SECONDS and DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS
    (never 0: a service always runs under both limits)."""
    statement = seconds("DB_STATEMENT_TIMEOUT_SECONDS", DEFAULT_STATEMENT_TIMEOUT_SECONDS, env)
    idle = seconds("DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS, env)
    return (
        f"-c statement_timeout={max(1, round(statement * 1000))} "
        f"-c idle_in_transaction_session_timeout={max(1, round(idle * 1000))}"
    )


DEFAULT_SESSION_OPTIONS = database_session_options({})
MIN_SECRET_BYTES = 32


def secret(name: str, env: Mapping[str, str] = os.environ) -> bytes | None:
    """A key for a keyed MAC (such as PAGE_TOKEN_SECRET): the variable, else the file <name>_FILE
    names (docker-compose's credentials step writes one), else None. Shorter than 32 bytes is
    refused: HMAC-SHA256's strength is bounded by its key's."""
    raw, file = env.get(name, ""), env.get(f"{name}_FILE", "")
    if not raw and file:
        try:
            raw = Path(file).read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{name}_FILE={file!r}: {getattr(error, 'strerror', None) or error}") from None
    if not raw:
        return None
    value = raw.encode()
    if len(value) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes, got {len(value)} "
            f"(e.g. the output of `openssl rand -hex 32`)"
        )
    return value


@dataclass(frozen=True)
class ServerSettings:
    """Settings every service reads the same way."""

    listen_addr: str
    database_url: str
    pool_size: int
    grace_seconds: float
    page_token_secret: bytes | None  # PAGE_TOKEN_SECRET: what page tokens are signed with (runtime.server.start)
    database_options: str = DEFAULT_SESSION_OPTIONS  # database_session_options: the pool's connections' limits
    metrics_addr: str | None = None  # where /metrics is served (METRICS_ADDR); None: not served

    @classmethod
    def from_env(
        cls, default_listen_addr: str, env: Mapping[str, str] = os.environ, default_metrics_addr: str = "off"
    ) -> ServerSettings:
        return cls(
            listen_addr=address("LISTEN_ADDR", default_listen_addr, env),
            database_url=database_url("DATABASE_URL", env),
            pool_size=positive_int("DB_POOL_SIZE", 16, env),
            grace_seconds=seconds("SHUTDOWN_GRACE_SECONDS", 10.0, env),
            page_token_secret=secret("PAGE_TOKEN_SECRET", env),
            database_options=database_session_options(env),
            metrics_addr=optional_address("METRICS_ADDR", default_metrics_addr, env),
        )
