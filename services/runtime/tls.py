"""Mutual TLS on every gRPC hop: which service is calling, from its certificate.

Every server asks for a client certificate from the one CA (TLS_CA_FILE) and refuses a plaintext
connection or a certificate of another CA in the handshake; every client presents its own
(TLS_CERT_FILE, TLS_KEY_FILE). A service's identity is the SPIFFE-style URI SAN of its
certificate, spiffe://<TLS_TRUST_DOMAIN>/<name>, which gRPC reports as the peer's SPIFFE ID: the
catalog grants stock reservations to the orders service alone (see catalog/access.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from .config import ConfigError

DEFAULT_TRUST_DOMAIN = "recordstore.local"


@dataclass(frozen=True)
class TlsFiles:
    ca: bytes
    cert: bytes
    key: bytes
    trust_domain: str = DEFAULT_TRUST_DOMAIN

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TlsFiles:
        read = {}
        for name in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
            path = env.get(name, "")
            if not path:
                raise ConfigError(f"{name} is not set (mutual TLS: the CA, this process's certificate and key, PEM)")
            try:
                read[name] = Path(path).read_bytes()
            except OSError as error:
                raise ConfigError(f"{name}={path!r}: {error.strerror}") from None
        return cls(
            read["TLS_CA_FILE"],
            read["TLS_CERT_FILE"],
            read["TLS_KEY_FILE"],
            env.get("TLS_TRUST_DOMAIN", "") or DEFAULT_TRUST_DOMAIN,
        )

    @classmethod
    def of(cls, ca: Path, cert: Path, key: Path, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> TlsFiles:
        return cls(Path(ca).read_bytes(), Path(cert).read_bytes(), Path(key).read_bytes(), trust_domain)

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


@functools.cache
def from_env() -> TlsFiles:
    """This process's own TLS files (read once)."""
    return TlsFiles.from_env()


def channel(address: str, files: TlsFiles | None = None, options=()) -> grpc.Channel:
    """A blocking channel over mutual TLS (this process's certificate unless `files`)."""
    return grpc.secure_channel(address, (files or from_env()).channel_credentials(), options=list(options))


def aio_channel(address: str, files: TlsFiles | None = None, options=(), interceptors=()) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        address, (files or from_env()).channel_credentials(), options=list(options), interceptors=list(interceptors)
    )


def peer_service(context, trust_domain: str) -> str | None:
    """The name of the service calling (`orders` for spiffe://<trust_domain>/orders), from its
    verified client certificate; None for any other identity."""
    for value in context.auth_context().get("peer_spiffe_id", ()):
        spiffe = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        prefix = f"spiffe://{trust_domain}/"
        if spiffe.startswith(prefix) and "/" not in spiffe[len(prefix) :]:
            return spiffe[len(prefix) :]
    return None
