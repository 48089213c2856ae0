"""The local stack's certificates: a development CA and one certificate per identity, made on
first start in the data directory (keys mode 0600, never committed), with `cryptography`.

Each identity's certificate names it with a SPIFFE-style URI SAN (spiffe://recordstore.local/
<name>) that the services read to know which service is calling (the catalog grants stock
reservations to the orders service alone); its DNS and IP SANs let it serve on loopback and under
its compose host name. Every certificate may serve and may be a client (mutual TLS on every hop).
A real deployment brings its own (cert-manager, SPIRE...): see docs/operations.md, "Credentials".
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "recordstore.local"
IDENTITIES = ("customers", "catalog", "orders", "gateway", "client")
VALID_DAYS = 825


def spiffe_id(name: str, domain: str = TRUST_DOMAIN) -> str:
    return f"spiffe://{domain}/{name}"


def _write(path: Path, data: bytes, private: bool) -> None:
    partial = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    partial.replace(path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class DevPki:
    directory: Path
    domain: str = TRUST_DOMAIN

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    def cert_path(self, name: str) -> Path:
        return self.directory / f"{name}.pem"

    def key_path(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def ensure(self, names=IDENTITIES) -> "DevPki":
        """Creates what is missing: the CA, then each identity's key and certificate."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.ca_path.exists() or not (self.directory / "ca.key").exists():
            self._make_ca()
        for name in names:
            if not self.cert_path(name).exists() or not self.key_path(name).exists():
                self.issue(name)
        return self

    def _make_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"recordstore development CA ({self.domain})")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        _write(self.directory / "ca.key", _key_pem(key), private=True)
        _write(self.ca_path, cert.public_bytes(serialization.Encoding.PEM), private=False)

    def issue(self, name: str, ca_dir: Path | None = None, uri: str | None = None) -> None:
        """A key and certificate for `name`, signed by this CA."""
        ca_key = serialization.load_pem_private_key((self.directory / "ca.key").read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.UniformResourceIdentifier(uri or spiffe_id(name, self.domain)), x509.DNSName(name),
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write(self.key_path(name), _key_pem(key), private=True)
        _write(self.cert_path(name), cert.public_bytes(serialization.Encoding.PEM), private=False)

    def env(self, name: str) -> dict[str, str]:
        """What a process needs to speak mutual TLS as `name` (services.runtime.tls reads it)."""
        return {"TLS_CA_FILE": str(self.ca_path), "TLS_CERT_FILE": str(self.cert_path(name)),
                "TLS_KEY_FILE": str(self.key_path(name))}


def pki_in(data_dir: Path) -> DevPki:
    """The local stack's certificates, beside the database's data directory (.data/tls)."""
    return DevPki(Path(data_dir).resolve().parent / "tls")
