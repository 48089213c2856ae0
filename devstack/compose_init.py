"""docker-compose's init step: every credential the stack needs, made once into named volumes,
each container's own files in a volume of its own (docs/deploy.md, "docker-compose").

    python -m devstack.compose_init [--root /credentials] [--supplied /supplied] [--renew NAME]
    python -m devstack.compose_init token --staff | --customer SUBJECT [--ttl SECONDS]

Under --root, one folder per volume:

    init/        the CA's key, the token signing key, the passwords: this container's alone
    customers/ catalog/ orders/   ca.pem, <name>.pem, <name>.key, jwks.json, pgpass, page-token.key
    gateway/     ca.pem, gateway.pem, gateway.key, jwks.json
    postgres/    postgres-password and each role's <role>-password

What is made once is kept (the CA, the signing key, the passwords: PostgreSQL set them on its
first start; the key every replica of every service signs page tokens with, PAGE_TOKEN_SECRET_FILE),
so running it again only copies out what changed. Bring your own: files in
--supplied replace the generated ones (ca.pem with ca.key, or ca.pem with every <name>.pem and
<name>.key; jwks.json of your identity provider), and POSTGRES_PASSWORD, <ROLE>_DB_PASSWORD
replace the generated passwords. What is supplied is used as it is or refused (exit 2): a
certificate with its own key, from the CA in use, not about to expire (one made here is issued
again instead); a JWKS supplied once is not replaced by a development key unless
--allow-dev-signing-key says so (init/supplied.json records what was ever supplied). Keys and passwords are mode 0600 and owned by the one user that
reads them (the service image's uid, Envoy's, PostgreSQL's); certificates and the JWKS are public.

Only devstack's credential modules (pki, credentials) and this one ship in the init image, none
of the local run's process management: see Dockerfile.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from services.runtime.auth import subject_problem

from .credentials import AUDIENCE, DEFAULT_TTL_SECONDS, ISSUER, DevIssuer
from .pki import TRUST_DOMAIN, DevPki

SERVICES = ("customers", "catalog", "orders")
ROLES = ("postgres",) + SERVICES
# The users of the images that read the files: the service image's (Dockerfile), the official
# envoyproxy/envoy's `envoy` and the official postgres image's `postgres`.
SERVICE_UID, ENVOY_UID, POSTGRES_UID = 10001, 101, 999
# The secrets that never leave the init volume.
PRIVATE_TO_INIT = ("ca.key", "signing-key.pem", "passwords.json")
# A certificate that expires sooner than this is renewed when this step made it, refused when it
# was supplied: a week leaves time to supply the next one before the services stop trusting it.
RENEW_WITHIN = datetime.timedelta(days=7)
# What was ever supplied (file names), kept in the init volume: a file supplied before and gone
# now is not replaced by a generated one without being told (a JWKS above all: a development
# signing key would let anyone holding the init volume mint tokens the services take).
SUPPLIED_MARKER = "supplied.json"
# The page tokens' MAC key, one for every replica of every service (runtime/pagination.py): a token
# one replica made is read by another. PAGE_TOKEN_SECRET, when the operator sets it, comes first.
PAGE_TOKEN_KEY = "page-token.key"
CERTIFICATE_FILES = ("ca.pem", "ca.key") + tuple(f"{n}.{ext}" for n in SERVICES + ("gateway",) for ext in ("pem", "key"))


def password_variable(role: str) -> str:
    return "POSTGRES_PASSWORD" if role == "postgres" else f"{role.upper()}_DB_PASSWORD"


def layout() -> dict[str, tuple[str, ...]]:
    """Each consumer's volume and the files in it (the compose test checks the mounts against it)."""
    files = {name: ("ca.pem", f"{name}.pem", f"{name}.key", "jwks.json", "pgpass", PAGE_TOKEN_KEY) for name in SERVICES}
    files["gateway"] = ("ca.pem", "gateway.pem", "gateway.key", "jwks.json")
    files["postgres"] = tuple(f"{role}-password" for role in ROLES)
    return files


class Refused(Exception):
    """What the operator supplied cannot make a working set (said plainly, exit 2)."""


@dataclass(frozen=True)
class Owners:
    service: int = SERVICE_UID
    envoy: int = ENVOY_UID
    postgres: int = POSTGRES_UID

    def of(self, consumer: str) -> int:
        return {"gateway": self.envoy, "postgres": self.postgres}.get(consumer, self.service)


def _put(path: Path, data: bytes, owner: int | None) -> None:
    """Writes `data` whole (a reader never sees half a key): public with no owner, else mode 0600
    and owned by `owner`, set before the content is written."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if owner is not None else 0o644)
    try:
        if owner is not None and owner != os.geteuid():
            os.fchown(fd, owner, owner)
        os.write(fd, data)
    finally:
        os.close(fd)
    partial.replace(path)


def _same_key(cert: x509.Certificate, key_path: Path) -> bool:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*der) == cert.public_key().public_bytes(*der)


def _pgpass_line(role: str, password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:recordstore:{role}:{escaped}\n"


def _expires(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_after_utc


def _expiring(cert: x509.Certificate) -> bool:
    return _expires(cert) < datetime.datetime.now(datetime.timezone.utc) + RENEW_WITHIN


def log(message: str) -> None:
    print(f"credentials: {message}", flush=True)


class Credentials:
    def __init__(self, root: Path, supplied: Path | None = None, env=os.environ, owners: Owners = Owners(),
                 allow_dev_signing_key: bool = False):
        self.root = root
        self.state = root / "init"
        self.supplied = supplied if supplied is not None and supplied.is_dir() else None
        self.env = env
        self.owners = owners
        self.allow_dev_signing_key = allow_dev_signing_key
        self.pki = DevPki(self.state / "tls", env.get("TLS_TRUST_DOMAIN") or TRUST_DOMAIN)
        self.issuer = DevIssuer(self.state / "auth", env.get("AUTH_ISSUER") or ISSUER,
                                env.get("AUTH_AUDIENCE") or AUDIENCE)
        marker = self.state / SUPPLIED_MARKER
        self.ever_supplied: set[str] = set(json.loads(marker.read_text())) if marker.exists() else set()
        self.supplied_now: set[str] = set()

    # -- what is made once, kept in the init volume ------------------------------------------

    def _take_supplied(self, name: str, into: Path) -> bool:
        if self.supplied is None or not (self.supplied / name).is_file():
            return False
        into.mkdir(parents=True, exist_ok=True)
        _put(into / name, (self.supplied / name).read_bytes(), os.geteuid() if name.endswith(".key") else None)
        self.supplied_now.add(name)
        return True

    def _was_supplied(self, name: str) -> bool:
        return name in self.supplied_now or name in self.ever_supplied

    def _remember_supplied(self) -> None:
        """Recorded once a run succeeded: a refused supply is not taken for one to hold to."""
        ever = sorted(self.ever_supplied | self.supplied_now)
        if ever != sorted(self.ever_supplied):
            _put(self.state / SUPPLIED_MARKER, json.dumps(ever).encode(), os.geteuid())

    def certificates(self, renew: tuple[str, ...] = ()) -> None:
        pki = self.pki
        pki.directory.mkdir(parents=True, exist_ok=True)
        for name in CERTIFICATE_FILES:
            self._take_supplied(name, pki.directory)
        for name in SERVICES + ("gateway",):  # a certificate and its key come together, or neither does
            cert, key = f"{name}.pem", f"{name}.key"
            if (cert in self.supplied_now) != (key in self.supplied_now):
                given, missing = (cert, key) if cert in self.supplied_now else (key, cert)
                raise Refused(f"{given} is supplied without {missing}: supply both, or neither")
        if "ca.key" in self.supplied_now and "ca.pem" not in self.supplied_now:
            raise Refused("ca.key is supplied without ca.pem: supply both, or ca.pem alone")
        ca_key = pki.directory / "ca.key"
        if not pki.ca_path.exists():
            pki.ensure(names=())  # a development CA, made once
        ca = x509.load_pem_x509_certificate(pki.ca_path.read_bytes())
        if ca_key.exists() and not _same_key(ca, ca_key):
            if "ca.key" in self.supplied_now:
                raise Refused("the supplied ca.key is not the key of the supplied ca.pem")
            ca_key.unlink()  # the key of a CA made before a supplied ca.pem replaced it: it issues nothing now
        if _expiring(ca):
            if self._was_supplied("ca.pem"):
                raise Refused(f"the supplied ca.pem expires {_expires(ca):%Y-%m-%d %H:%M} UTC (within "
                              f"{RENEW_WITHIN.days} days, or before): supply the CA's next certificate")
            log(f"the development CA expires {_expires(ca):%Y-%m-%d}: a new one, and every certificate issued again")
            pki.ca_path.unlink()
            ca_key.unlink(missing_ok=True)
            pki.ensure(names=())
            ca = x509.load_pem_x509_certificate(pki.ca_path.read_bytes())
        for name in SERVICES + ("gateway",):
            if self._was_supplied(f"{name}.pem"):
                if name in renew:
                    raise Refused(f"{name}.pem is supplied: renew it where it was issued, and supply it again")
                self._check_supplied(name, ca)
                continue
            if name in renew or not self._issued_by(name, ca) or self._expiring_here(name):
                if not ca_key.exists():
                    raise Refused(f"{name}.pem and {name}.key are not supplied (or not from the supplied ca.pem), "
                                  "and without ca.key they cannot be issued: supply them, or ca.key too")
                pki.issue(name)

    def _check_supplied(self, name: str, ca: x509.Certificate) -> None:
        """A supplied certificate is used as it is, or refused: never replaced by one issued here (a
        key the operator placed would rotate on every run)."""
        cert_path, key_path = self.pki.cert_path(name), self.pki.key_path(name)
        if not key_path.exists():
            raise Refused(f"{name}.pem was supplied without {name}.key")
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError:
            raise Refused(f"the supplied {name}.pem is not a PEM certificate") from None
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise Refused(f"the supplied {name}.pem is not issued by the CA in use (ca.pem"
                          f"{'' if self._was_supplied('ca.pem') else ', a development CA made here'}): "
                          "supply the ca.pem of the CA that issued it") from None
        try:
            matches = _same_key(cert, key_path)
        except (ValueError, TypeError):
            matches = False
        if not matches:
            raise Refused(f"the supplied {name}.key is not the key of {name}.pem (their public keys differ)")
        if _expiring(cert):
            raise Refused(f"the supplied {name}.pem expires {_expires(cert):%Y-%m-%d %H:%M} UTC (within "
                          f"{RENEW_WITHIN.days} days, or before): supply its next certificate")

    def _expiring_here(self, name: str) -> bool:
        """A certificate this step issued that is about to expire (it is issued again, logged)."""
        cert = x509.load_pem_x509_certificate(self.pki.cert_path(name).read_bytes())
        if _expiring(cert):
            log(f"{name}.pem expires {_expires(cert):%Y-%m-%d %H:%M} UTC: issued again")
            return True
        return False

    def _issued_by(self, name: str, ca: x509.Certificate) -> bool:
        cert, key = self.pki.cert_path(name), self.pki.key_path(name)
        if not cert.exists() or not key.exists():
            return False
        try:
            x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return False
        try:
            return _same_key(x509.load_pem_x509_certificate(cert.read_bytes()), key)
        except (ValueError, TypeError):
            return False

    def token_keys(self) -> None:
        auth = self.issuer.directory
        auth.mkdir(parents=True, exist_ok=True)
        if self._take_supplied("jwks.json", auth):
            # The operator's identity provider signs the tokens: no development key beside it.
            self.issuer.key_path.unlink(missing_ok=True)
            return
        # A JWKS without its signing key beside it was supplied, in a volume made before the marker.
        if "jwks.json" in self.ever_supplied or (self.issuer.jwks_path.exists() and not self.issuer.key_path.exists()):
            if not self.allow_dev_signing_key:
                raise Refused("jwks.json was supplied before and is not now: supply it again (tokens come from "
                              "your identity provider), or pass --allow-dev-signing-key to go back to a "
                              "development signing key")
            log("jwks.json is no longer supplied: a development signing key signs the tokens (--allow-dev-signing-key)")
            self.ever_supplied.discard("jwks.json")
            _put(self.state / SUPPLIED_MARKER, json.dumps(sorted(self.ever_supplied)).encode(), os.geteuid())
        if not self.issuer.key_path.exists():
            self.issuer.jwks_path.unlink(missing_ok=True)  # a JWKS supplied before is not this key's
        self.issuer.ensure()

    def passwords(self) -> dict[str, str]:
        path = self.state / "passwords.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        chosen = {role: self.env.get(password_variable(role)) or kept.get(role) or secrets.token_hex(24)
                  for role in ROLES}
        if chosen != kept:
            _put(path, json.dumps(chosen).encode(), os.geteuid())
        return chosen

    def page_token_key(self) -> bytes:
        path = self.state / PAGE_TOKEN_KEY
        if not path.exists():
            _put(path, secrets.token_hex(32).encode(), os.geteuid())
        return path.read_bytes()

    # -- each consumer's copy -------------------------------------------------------------------

    def distribute(self, passwords: dict[str, str], page_token_key: bytes) -> None:
        jwks = self.issuer.jwks_path.read_bytes()
        ca = self.pki.ca_path.read_bytes()
        for consumer, files in layout().items():
            folder = self.root / consumer
            folder.mkdir(parents=True, exist_ok=True)
            owner = self.owners.of(consumer)
            for name in files:
                if name == "ca.pem":
                    _put(folder / name, ca, None)
                elif name == "jwks.json":
                    _put(folder / name, jwks, None)
                elif name == PAGE_TOKEN_KEY:
                    _put(folder / name, page_token_key, owner)
                elif name.endswith(".pem"):
                    _put(folder / name, self.pki.cert_path(consumer).read_bytes(), None)
                elif name.endswith(".key"):
                    _put(folder / name, self.pki.key_path(consumer).read_bytes(), owner)
                elif name == "pgpass":
                    _put(folder / name, _pgpass_line(consumer, passwords[consumer]).encode(), owner)
                else:  # <role>-password, for PostgreSQL's first start
                    _put(folder / name, passwords[name.removesuffix("-password")].encode(), owner)

    def make(self, renew: tuple[str, ...] = ()) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        self.certificates(renew)
        self.token_keys()
        self._remember_supplied()
        self.distribute(self.passwords(), self.page_token_key())


def mint(argv, root: Path, env=os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.compose_init token")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--staff", nargs="?", const="staff", metavar="SUBJECT")
    who.add_argument("--customer", metavar="SUBJECT")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS)
    args = parser.parse_args(argv)
    problem = subject_problem(args.staff if args.staff else args.customer)  # what the gateway and services take
    if problem:
        parser.error(f"the subject {problem}")
    issuer = Credentials(root, env=env).issuer
    if not issuer.key_path.exists():
        print("no development signing key here (a supplied JWKS, or the init step has not run): "
              "tokens come from your identity provider", file=sys.stderr)
        return 2
    print(issuer.staff_token(args.staff, args.ttl) if args.staff else issuer.customer_token(args.customer, args.ttl))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m devstack.compose_init", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/credentials"))
    parser.add_argument("--supplied", type=Path, help="a folder of operator-supplied files (bring your own)")
    parser.add_argument("--renew", action="append", default=[], choices=SERVICES + ("gateway",),
                        help="issue this certificate again (rotation), from the CA's key")
    parser.add_argument("--allow-dev-signing-key", action="store_true",
                        help="go back to a development signing key after a supplied jwks.json was removed")
    parser.add_argument("--service-uid", type=int, default=SERVICE_UID)
    parser.add_argument("--envoy-uid", type=int, default=ENVOY_UID)
    parser.add_argument("--postgres-uid", type=int, default=POSTGRES_UID)
    if "token" in argv:
        at = argv.index("token")
        args = parser.parse_args(argv[:at])
        return mint(argv[at + 1:], args.root)
    args = parser.parse_args(argv)
    owners = Owners(args.service_uid, args.envoy_uid, args.postgres_uid)
    try:
        Credentials(args.root, args.supplied, owners=owners,
                    allow_dev_signing_key=args.allow_dev_signing_key).make(tuple(args.renew))
    except Refused as error:
        print(f"credentials: {error}", file=sys.stderr)
        return 2
    for consumer, files in layout().items():
        print(f"{args.root / consumer}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
