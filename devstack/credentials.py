"""The local stack's own identity provider: a signing key made on first start, its public JWKS,
and tokens minted with it for development and tests (`python -m devstack token`).

A real deployment uses its identity provider instead (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE):
nothing here is needed there. The private key never leaves the data directory (mode 0600) and is
never committed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://recordstore.localhost/devstack"
AUDIENCE = "recordstore"
ALGORITHM = "ES256"
DEFAULT_TTL_SECONDS = 3600


def _write_private(path: Path, data: bytes) -> bool:
    """Writes `data` to a new file readable by its owner only; False when it exists already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return True


@dataclass(frozen=True)
class DevIssuer:
    """The signing key and JWKS kept in `directory` (created on first use)."""

    directory: Path
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @property
    def key_path(self) -> Path:
        return self.directory / "signing-key.pem"

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    def ensure(self) -> "DevIssuer":
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _write_private(self.key_path, pem)  # a key made by an earlier start is kept
        if not self.jwks_path.exists():
            public = self._private_key().public_key()
            jwk = {**ECAlgorithm.to_jwk(public, as_dict=True), "kid": self.key_id(), "use": "sig", "alg": ALGORITHM}
            partial = self.jwks_path.with_suffix(".tmp")
            partial.write_text(json.dumps({"keys": [jwk]}))
            partial.chmod(0o644)  # public: Envoy (another user under docker) reads it too
            partial.replace(self.jwks_path)
        return self

    def _private_key(self):
        return serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)

    def key_id(self) -> str:
        public = self._private_key().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return uuid.uuid5(uuid.NAMESPACE_OID, public.hex()).hex[:16]

    def env(self) -> dict[str, str]:
        """What a service needs to verify this issuer's tokens."""
        return {"AUTH_ISSUER": self.issuer, "AUTH_AUDIENCE": self.audience, "AUTH_JWKS_FILE": str(self.jwks_path)}

    def mint(self, subject: str, roles: list[str], ttl: float = DEFAULT_TTL_SECONDS, **overrides) -> str:
        """A signed token; `overrides` replace claims (tests make wrong ones with it)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": subject, "roles": roles,
                  "iat": now, "exp": now + int(ttl), **overrides}
        return jwt.encode(claims, self._private_key(), algorithm=ALGORITHM, headers={"kid": self.key_id()})

    def staff_token(self, subject: str = "staff", ttl: float = DEFAULT_TTL_SECONDS) -> str:
        return self.mint(subject, ["staff"], ttl)

    def customer_token(self, subject: str, ttl: float = DEFAULT_TTL_SECONDS) -> str:
        return self.mint(subject, ["customer"], ttl)


def issuer_in(data_dir: Path) -> DevIssuer:
    """The local stack's issuer, beside the database's data directory (.data/auth)."""
    return DevIssuer(Path(data_dir).resolve().parent / "auth")
