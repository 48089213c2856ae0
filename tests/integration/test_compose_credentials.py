"""docker-compose's credentials: the init step's real command, run here without Docker (from a
tree holding only what its image holds), makes files that work and that only their reader can
read; and the rendered compose file mounts each container's own files and nothing more."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from devstack.compose_init import (ENVOY_UID, PAGE_TOKEN_KEY, POSTGRES_UID, PRIVATE_TO_INIT, SERVICE_UID, layout,
                                   password_variable)
from devstack.credentials import DevIssuer
from devstack.pki import DevPki, spiffe_id
from devstack.postgres import bin_path, start_embedded, stop_embedded
from services.runtime.auth import Authenticator, AuthSettings
from services.runtime.config import secret as config_secret
from tests.support import REPO_ROOT

INIT = "credentials"
CONSUMERS = layout()
PYTHON_SERVICES = ("customers", "catalog", "orders")


def rendered_compose() -> dict:
    """The file as docker-compose renders it (defaults filled in, anchors merged), with none of the
    passwords set; without the binary, the file as YAML (its anchors merged all the same)."""
    if shutil.which("docker-compose") is None:
        return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.endswith("PASSWORD")}
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config"], cwd=REPO_ROOT,
                            capture_output=True, text=True, env=env, check=True)
    return yaml.safe_load(result.stdout)


COMPOSE = rendered_compose()
SERVICES = COMPOSE["services"]


def named_mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """{named volume: (where it is mounted, read-only)}; bind mounts (paths) left out."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target, read_only = volume.get("source", ""), volume["target"], volume.get("read_only", False)
        else:
            source, target, *mode = volume.split(":")
            read_only = mode == ["ro"]
        if source and not source.startswith(("/", ".", "$", "~")):
            mounts[source] = (target, read_only)
    return mounts


def compose_value(value: str) -> str:
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match[1] if match else value


# -- the compose file ------------------------------------------------------------------------

def test_only_the_init_step_mounts_the_ca_key_and_the_signing_key():
    for name, service in SERVICES.items():
        if name != INIT:
            assert "credentials-init" not in named_mounts(service), name
    for consumer, files in CONSUMERS.items():
        assert not set(files) & set(PRIVATE_TO_INIT), consumer
        assert not any(f == "ca.key" or "signing" in f for f in files), consumer


def test_the_init_step_writes_every_containers_volume_and_keeps_its_own():
    mounts = named_mounts(SERVICES[INIT])
    assert mounts["credentials-init"] == ("/credentials/init", False)
    for consumer in CONSUMERS:
        assert mounts[f"credentials-{consumer}"] == (f"/credentials/{consumer}", False)
    command = SERVICES[INIT]["command"]
    assert command[command.index("--root") + 1] == "/credentials"


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_each_container_mounts_its_own_credentials_read_only_and_no_one_elses(consumer):
    service = SERVICES[consumer]
    ours = {v: m for v, m in named_mounts(service).items() if v.startswith("credentials-")}
    assert list(ours) == [f"credentials-{consumer}"], ours
    target, read_only = ours[f"credentials-{consumer}"]
    assert read_only
    # Every file its configuration names is in that volume, and is one the init step writes there.
    named = [compose_value(str(v)) for k, v in service["environment"].items()
             if k.endswith(("_FILE", "_PATH")) and str(v).startswith("/run/")]
    named += re.findall(r"passfile=(\S+)", str(service["environment"].get("DATABASE_URL", "")))
    assert named
    for path in named:
        assert Path(path).parent == Path(target), path
        assert Path(path).name in CONSUMERS[consumer], path
    key = {"gateway": "TLS_KEY_PATH", "postgres": None}.get(consumer, "TLS_KEY_FILE")
    if key:
        assert service["environment"][key] == f"{target}/{consumer}.key"  # its own key, mounted


def test_no_container_has_a_password_in_its_configuration():
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            value = compose_value(str(value or ""))
            if key.endswith("PASSWORD"):
                assert name == INIT and value == "", f"{name}: {key} has a default"
            assert not re.search(r"postgres(ql)?://[^@/]*:[^@/]*@", value), f"{name}: {key} holds a password"
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    for role in ("postgres",) + PYTHON_SERVICES:
        assert f"${{{password_variable(role)}:-}}" in text  # given by the operator, else generated


def test_the_image_users_are_the_ones_the_init_step_writes_for():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"--uid {SERVICE_UID} " in dockerfile
    assert SERVICES["gateway"]["user"] == f"{ENVOY_UID}:{ENVOY_UID}"
    assert POSTGRES_UID == 999 and SERVICES["postgres"]["image"].startswith("postgres:")  # Debian's postgres user


# -- the init step, run for real -------------------------------------------------------------

def image_tree(tmp: Path) -> Path:
    """The credentials stage's files (its COPY lines in the Dockerfile), and nothing else."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    stage = dockerfile.split("AS credentials", 1)[1].split("\nFROM ", 1)[0]
    app = tmp / "app"
    for line in re.findall(r"^COPY (.+)$", stage, re.MULTILINE):
        *sources, target = line.split()
        for source in sources:
            destination = app / target / Path(source).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / source, destination)
    return app


def init_command(tmp: Path, *extra: str) -> tuple[list[str], dict, Path]:
    """The init service's entrypoint and command, with its container paths under `tmp`."""
    app = image_tree(tmp)
    service = SERVICES[INIT]
    entrypoint = re.findall(r'^ENTRYPOINT (\[.+\])$', (REPO_ROOT / "Dockerfile").read_text().split("AS credentials", 1)[1],
                            re.MULTILINE)[0]
    argv = yaml.safe_load(entrypoint) + list(service["command"]) + list(extra)
    assert argv[0] == "python"
    argv = [sys.executable] + [a.replace("/credentials", str(tmp / "credentials")).replace("/supplied", str(tmp / "supplied"))
                               for a in argv[1:]]
    if os.geteuid() != 0:  # only root can give files away: then they are this user's
        argv += ["--service-uid", str(os.geteuid()), "--envoy-uid", str(os.geteuid()), "--postgres-uid", str(os.geteuid())]
    env = {k: compose_value(str(v)) for k, v in service["environment"].items()}
    env = {**{k: v for k, v in os.environ.items() if not k.endswith("PASSWORD")}, **env, "PYTHONPATH": ""}
    return argv, env, app


def run_init(tmp: Path, *extra: str, env_extra: dict | None = None, check: bool = True):
    argv, env, app = init_command(tmp, *extra)
    result = subprocess.run(argv, cwd=app, env={**env, **(env_extra or {})}, capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def reader(consumer: str) -> int:
    if os.geteuid() != 0:
        return os.geteuid()
    return {"gateway": ENVOY_UID, "postgres": POSTGRES_UID}.get(consumer, SERVICE_UID)


def verify_token(jwks: Path, token: str, env: dict):
    settings = AuthSettings(env["AUTH_ISSUER"], env["AUTH_AUDIENCE"], jwks_file=jwks)
    return asyncio.run(Authenticator(settings).verify(token))


def test_the_init_step_makes_each_readers_files_that_work(tmp_path):
    run_init(tmp_path)
    root = tmp_path / "credentials"
    env = init_command(tmp_path)[1]
    assert stat.S_IMODE((root / "init").stat().st_mode) == 0o700
    ca = x509.load_pem_x509_certificate((root / "init" / "tls" / "ca.pem").read_bytes())
    for consumer, files in CONSUMERS.items():
        folder = root / consumer
        assert sorted(p.name for p in folder.iterdir()) == sorted(files), consumer
        for name in files:
            info = (folder / name).stat()
            secret = name.endswith((".key", "-password")) or name == "pgpass"
            assert stat.S_IMODE(info.st_mode) == (0o600 if secret else 0o644), f"{consumer}/{name}"
            if secret:
                assert info.st_uid == reader(consumer), f"{consumer}/{name}"
        if consumer in PYTHON_SERVICES + ("gateway",):
            cert = x509.load_pem_x509_certificate((folder / f"{consumer}.pem").read_bytes())
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes()))
            cert.verify_directly_issued_by(ca)
            uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.UniformResourceIdentifier)
            assert uris == [spiffe_id(consumer)]
            key = serialization.load_pem_private_key((folder / f"{consumer}.key").read_bytes(), password=None)
            der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            assert key.public_key().public_bytes(*der) == cert.public_key().public_bytes(*der)
    # One page-token key for every replica of every service, as long as a MAC key must be.
    keys = {(root / name / PAGE_TOKEN_KEY).read_bytes() for name in PYTHON_SERVICES}
    assert len(keys) == 1 and config_secret("PAGE_TOKEN_SECRET", {"PAGE_TOKEN_SECRET_FILE": str(root / "orders" / PAGE_TOKEN_KEY)})
    for private in ("ca.key", "signing-key.pem", "passwords.json"):
        found = [p for p in root.rglob(private)]
        assert found and all(p.is_relative_to(root / "init") for p in found), private
    # A token of the init volume's key, as `docker compose run --rm credentials token` mints it,
    # passes the services' own verification with each container's copy of the JWKS.
    argv, env, app = init_command(tmp_path)
    minted = subprocess.run(argv[:3] + ["--root", str(root), "token", "--customer", "ana"], cwd=app, env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    for consumer in PYTHON_SERVICES + ("gateway",):
        caller = verify_token(root / consumer / "jwks.json", minted, env)
        assert caller.subject == "ana" and caller.is_customer


def test_running_it_again_keeps_the_ca_the_key_and_the_passwords(tmp_path):
    run_init(tmp_path)
    root = tmp_path / "credentials"
    kept = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()
            and (p.name.startswith("ca.") or p.name in ("jwks.json", "pgpass", PAGE_TOKEN_KEY)
                 or p.name.endswith("-password"))}
    run_init(tmp_path)
    assert {path: (root / path).read_bytes() for path in kept} == kept
    # A rotation: one certificate issued again from the same CA.
    before = (root / "customers" / "customers.pem").read_bytes()
    run_init(tmp_path, "--renew", "customers")
    after = (root / "customers" / "customers.pem").read_bytes()
    assert after != before
    x509.load_pem_x509_certificate(after).verify_directly_issued_by(
        x509.load_pem_x509_certificate((root / "customers" / "ca.pem").read_bytes()))
    assert (root / "customers" / "ca.pem").read_bytes() == kept[Path("customers/ca.pem")]


def test_the_generated_passwords_open_the_database_and_only_for_their_role(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compose-credentials")
    run_init(tmp)
    root = tmp / "credentials"
    cluster = start_embedded(tmp_path_factory.mktemp("compose-credentials-pg") / "data")
    try:
        opened_only_by_their_own_password(cluster, root)
    finally:
        stop_embedded(cluster)


def opened_only_by_their_own_password(cluster, root: Path) -> None:
    socket_dir = cluster.admin_url.split("host=", 1)[1]
    # As the postgres image runs db/docker-init.sh, with the files the postgres container mounts.
    env = {**os.environ, "PGHOST": socket_dir, "POSTGRES_USER": "postgres", "RECORDSTORE_DB_DIR": str(REPO_ROOT / "db"),
           "PATH": f"{bin_path('psql').parent}:{os.environ['PATH']}", "PGPASSWORD": cluster.role_password("postgres"),
           **{f"{role.upper()}_DB_PASSWORD_FILE": str(root / "postgres" / f"{role}-password") for role in PYTHON_SERVICES}}
    for role in PYTHON_SERVICES:
        env.pop(f"{role.upper()}_DB_PASSWORD", None)
    subprocess.run(["sh", str(REPO_ROOT / "db" / "docker-init.sh")], env=env, check=True, capture_output=True)
    for role in PYTHON_SERVICES:
        # The service's DATABASE_URL as compose gives it, pointed at this server.
        url = SERVICES[role]["environment"]["DATABASE_URL"]
        passfile = re.search(r"passfile=(\S+)", url)[1].replace("/run/recordstore", str(root / role))
        # As the services connect (services/runtime/db.py, migrations.py): the URL and keywords.
        conn = psycopg2.connect(f"postgresql://{role}@/recordstore?host={socket_dir}&passfile={passfile}",
                                application_name=f"{role}-test")
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (role,)
        conn.close()
        # The file holds this role's password alone, and that password opens no other role.
        other = "orders" if role != "orders" else "catalog"
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(f"postgresql://{other}@/recordstore?host={socket_dir}&passfile={passfile}")
        password = (root / "postgres" / f"{role}-password").read_text()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(host=socket_dir, dbname="recordstore", user=other, password=password)


def test_bring_your_own_ca_jwks_and_password(tmp_path):
    supplied = tmp_path / "supplied"
    theirs = DevPki(supplied).ensure(names=())  # their CA: ca.pem and ca.key
    (supplied / "ca.key").chmod(0o600)
    idp = DevIssuer(tmp_path / "idp").ensure()
    shutil.copy(idp.jwks_path, supplied / "jwks.json")
    run_init(tmp_path, env_extra={"CUSTOMERS_DB_PASSWORD": r"their:pass\word"})
    root = tmp_path / "credentials"
    for consumer in PYTHON_SERVICES + ("gateway",):
        assert (root / consumer / "ca.pem").read_bytes() == theirs.ca_path.read_bytes()
        x509.load_pem_x509_certificate((root / consumer / f"{consumer}.pem").read_bytes()).verify_directly_issued_by(
            x509.load_pem_x509_certificate(theirs.ca_path.read_bytes()))
        assert (root / consumer / "jwks.json").read_bytes() == idp.jwks_path.read_bytes()
    env = init_command(tmp_path)[1]
    assert verify_token(root / "orders" / "jwks.json", idp.staff_token(), env).is_staff
    assert not (root / "init" / "auth" / "signing-key.pem").exists()  # their identity provider signs
    assert (root / "customers" / "pgpass").read_text() == "*:*:recordstore:customers:their\\:pass\\\\word\n"
    assert (root / "postgres" / "customers-password").read_text() == r"their:pass\word"
    argv, env, app = init_command(tmp_path)
    refused = subprocess.run(argv[:3] + ["--root", str(root), "token", "--staff"], cwd=app, env=env,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "identity provider" in refused.stderr


def test_a_supplied_ca_without_its_key_needs_every_certificate(tmp_path):
    elsewhere = DevPki(tmp_path / "elsewhere").ensure(names=("customers",))
    supplied = tmp_path / "supplied"
    supplied.mkdir()
    for name in ("ca.pem", "customers.pem", "customers.key"):
        shutil.copy(elsewhere.directory / name, supplied / name)
    result = run_init(tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "catalog.pem" in result.stderr and "ca.key" in result.stderr
    assert not (tmp_path / "credentials" / "catalog").exists()  # nothing half-made handed out


# -- half-supplied, mismatched or expiring certificates, a JWKS taken away --------------------

def reissue(pki: DevPki, name: str, days: float) -> bytes:
    """`name`'s certificate again, same key and CA, valid for `days` more (negative: expired)."""
    ca_key = serialization.load_pem_private_key((pki.directory / "ca.key").read_bytes(), password=None)
    old = x509.load_pem_x509_certificate(pki.cert_path(name).read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(old.issuer).public_key(old.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=30))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    pki.cert_path(name).write_bytes(pem)
    return pem


def supply(tmp: Path, source: Path, *names: str, rename: dict | None = None) -> Path:
    supplied = tmp / "supplied"
    supplied.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(source / name, supplied / (rename or {}).get(name, name))
    return supplied


def test_a_supplied_certificate_from_a_ca_not_supplied_is_refused_not_replaced(tmp_path):
    elsewhere = DevPki(tmp_path / "elsewhere").ensure(names=("customers",))
    supply(tmp_path, elsewhere.directory, "customers.pem", "customers.key")
    for _ in range(2):  # refused every time: no key of our own issued in its place
        result = run_init(tmp_path, check=False)
        assert result.returncode == 2, result.stderr
        assert "customers.pem" in result.stderr and "ca.pem" in result.stderr, result.stderr
    assert not (tmp_path / "credentials" / "customers").exists()


@pytest.mark.parametrize("case", ["certificate without key", "key without certificate", "another key"])
def test_a_supplied_certificate_needs_its_own_key(tmp_path, case):
    theirs = DevPki(tmp_path / "theirs").ensure(names=("customers", "catalog"))
    supply(tmp_path, theirs.directory, "ca.pem", "ca.key")
    if case == "certificate without key":
        supply(tmp_path, theirs.directory, "customers.pem")
    elif case == "key without certificate":
        supply(tmp_path, theirs.directory, "customers.key")
    else:
        supply(tmp_path, theirs.directory, "customers.pem", "catalog.key", rename={"catalog.key": "customers.key"})
    result = run_init(tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "customers.key" in result.stderr, result.stderr


def test_an_expiring_certificate_made_here_is_renewed_and_logged(tmp_path):
    run_init(tmp_path)
    root = tmp_path / "credentials"
    pki = DevPki(root / "init" / "tls")
    expiring = reissue(pki, "customers", days=2)
    reissue(pki, "gateway", days=-1)
    result = run_init(tmp_path)
    assert "customers.pem expires" in result.stdout and "gateway.pem expires" in result.stdout, result.stdout
    ca = x509.load_pem_x509_certificate((root / "customers" / "ca.pem").read_bytes())
    for name in ("customers", "gateway"):
        cert = x509.load_pem_x509_certificate((root / name / f"{name}.pem").read_bytes())
        assert cert.public_bytes(serialization.Encoding.PEM) != expiring
        assert cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
        cert.verify_directly_issued_by(ca)
    # The development CA itself: a new one, and every certificate issued again from it.
    old_ca = (root / "customers" / "ca.pem").read_bytes()
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = serialization.load_pem_private_key((pki.directory / "ca.key").read_bytes(), password=None)
    short = (x509.CertificateBuilder().subject_name(ca.subject).issuer_name(ca.subject).public_key(ca.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=3)))
    for extension in ca.extensions:
        short = short.add_extension(extension.value, extension.critical)
    pki.ca_path.write_bytes(short.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    result = run_init(tmp_path)
    assert "development CA expires" in result.stdout, result.stdout
    new_ca = x509.load_pem_x509_certificate((root / "customers" / "ca.pem").read_bytes())
    assert new_ca.public_bytes(serialization.Encoding.PEM) != old_ca
    for name in PYTHON_SERVICES + ("gateway",):
        x509.load_pem_x509_certificate((root / name / f"{name}.pem").read_bytes()).verify_directly_issued_by(new_ca)


def test_an_expiring_supplied_certificate_is_refused(tmp_path):
    theirs = DevPki(tmp_path / "theirs").ensure(names=("customers",))
    reissue(theirs, "customers", days=3)
    supply(tmp_path, theirs.directory, "ca.pem", "ca.key", "customers.pem", "customers.key")
    result = run_init(tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "customers.pem expires" in result.stderr, result.stderr
    reissue(theirs, "customers", days=400)
    supply(tmp_path, theirs.directory, "customers.pem")
    run_init(tmp_path)
    assert (tmp_path / "credentials" / "customers" / "customers.pem").read_bytes() == theirs.cert_path("customers").read_bytes()


def test_a_supplied_jwks_taken_away_brings_no_development_key_back_unasked(tmp_path):
    idp = DevIssuer(tmp_path / "idp").ensure()
    supplied = supply(tmp_path, idp.directory, "jwks.json")
    run_init(tmp_path)
    root = tmp_path / "credentials"
    (supplied / "jwks.json").unlink()
    result = run_init(tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "jwks.json" in result.stderr and "--allow-dev-signing-key" in result.stderr, result.stderr
    assert not (root / "init" / "auth" / "signing-key.pem").exists()
    assert (root / "orders" / "jwks.json").read_bytes() == idp.jwks_path.read_bytes()  # still theirs
    result = run_init(tmp_path, "--allow-dev-signing-key")
    assert "development signing key" in result.stdout
    assert (root / "init" / "auth" / "signing-key.pem").exists()
    assert (root / "orders" / "jwks.json").read_bytes() != idp.jwks_path.read_bytes()
    run_init(tmp_path)  # said once: the development key is what is kept now


def test_a_jwks_supplied_before_the_marker_existed_is_held_to_as_well(tmp_path):
    idp = DevIssuer(tmp_path / "idp").ensure()
    supplied = supply(tmp_path, idp.directory, "jwks.json")
    run_init(tmp_path)
    (tmp_path / "credentials" / "init" / "supplied.json").unlink()  # a volume of an older init step
    (supplied / "jwks.json").unlink()
    result = run_init(tmp_path, check=False)
    assert result.returncode == 2 and "jwks.json" in result.stderr, result.stderr
