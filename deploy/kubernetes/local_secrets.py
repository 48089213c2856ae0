"""The Secrets (and the JWKS ConfigMap) the manifests reference, for a local cluster, as YAML:

    .venv/bin/python deploy/kubernetes/local_secrets.py | kubectl apply -f -

Made from the local run's own credentials, created if missing (as `python -m devstack
credentials` makes them): the development CA and each identity's certificate in .data/tls, the
token issuer's public keys in .data/auth (mint tokens with `python -m devstack token`). The roles'
passwords and the page-token key are made once into .data/kubernetes (mode 0600) and kept, so
applying again changes nothing. Nothing here is for production (see the production overlay).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from devstack.credentials import issuer_in  # noqa: E402
from devstack.pki import pki_in  # noqa: E402
from devstack.secrets import stored_secret  # noqa: E402

NAMESPACE = "recordstore"
SERVICES = ("customers", "catalog", "orders")
TLS_IDENTITIES = (*SERVICES, "gateway")


def _secret(name: str, data: dict[str, bytes], kind: str = "Opaque") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {key: base64.b64encode(value).decode() for key, value in data.items()}}


def objects(data_dir: Path) -> list[dict]:
    """`data_dir` is the local run's .data (its credentials are made there when missing)."""
    postgres_dir = data_dir / "postgres"  # devstack keeps tls/ and auth/ beside the database's folder
    pki = pki_in(postgres_dir).ensure()
    issuer = issuer_in(postgres_dir).ensure()
    kept = data_dir / "kubernetes"
    kept.mkdir(parents=True, exist_ok=True)
    made = []
    for name in TLS_IDENTITIES:
        # cert-manager's shape, which the manifests mount: tls.crt, tls.key, ca.crt.
        made.append(_secret(f"{name}-tls", {"tls.crt": pki.cert_path(name).read_bytes(),
                                            "tls.key": pki.key_path(name).read_bytes(),
                                            "ca.crt": pki.ca_path.read_bytes()}, "kubernetes.io/tls"))
    for name in SERVICES:
        password = stored_secret(kept / f"{name}-db-password")
        made.append(_secret(f"{name}-db", {"username": name.encode(), "password": password.encode()},
                            "kubernetes.io/basic-auth"))
    made.append(_secret("page-token", {"secret": stored_secret(kept / "page-token-secret").encode()}))
    made.append({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "auth-jwks", "namespace": NAMESPACE},
                 "data": {"jwks.json": issuer.jwks_path.read_text()}})
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="local_secrets.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data",
                        help="the local run's data folder (default: .data)")
    args = parser.parse_args(argv)
    yaml.safe_dump_all(objects(args.data_dir), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
