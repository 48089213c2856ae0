"""deploy/kubernetes: every overlay renders, every object is valid Kubernetes, and the rendered
objects hold what the deployment promises (docs/deploy.md, "Kubernetes"): replicas, probes, hardening,
headless Services, disruption budgets, autoscalers, and network policies that allow exactly the
intended edges. Offline and fast: kubectl's kustomize and kubernetes-validate's bundled schemas.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import socket
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version

from devstack.gateway import TRACING_BLOCK
from devstack.pki import DevPki
from tests.deploy.kube import KUBERNETES, OVERLAYS, REPO_ROOT, Objects, Peer, edges, pod_spec, render, selects

SERVICES = {"customers": 50051, "catalog": 50052, "orders": 50053}
NAMESPACE = "recordstore"
# The oldest Kubernetes the manifests claim (the preStop sleep action is on by default from 1.30),
# and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", latest_version())
# The CloudNativePG operator's names for what it makes of Cluster recordstore-db.
CNPG_CLUSTER = "recordstore-db"
CNPG_MADE = {f"{CNPG_CLUSTER}-ca": {"ca.crt", "ca.key"}, f"{CNPG_CLUSTER}-superuser": {"username", "password"}}
# What the production overlay's header asks its operators to create, with the keys mounted.
PRODUCTION_MADE = {
    **{f"{name}-tls": {"tls.crt", "tls.key", "ca.crt"} for name in (*SERVICES, "gateway")},
    **{f"{name}-db": {"password"} for name in SERVICES},
    "page-token": {"secret"}, "database-admin": {"username", "password"}, "database-ca": {"ca.crt"},
    "auth-jwks": {"jwks.json"},
}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, Objects]:
    return request.param, Objects(render(request.param))


def _local_secrets():
    spec = importlib.util.spec_from_file_location("local_secrets", KUBERNETES / "local_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def made_elsewhere(tmp_path_factory) -> dict[str, dict[str, dict[str, set[str]]]]:
    """Per overlay, the Secrets and ConfigMaps not rendered but referenced, with their keys:
    locally what local_secrets.py makes (run here for real) and what the operator makes."""
    local = {"Secret": dict(CNPG_MADE), "ConfigMap": {}}
    for doc in _local_secrets().objects(tmp_path_factory.mktemp("data")):
        assert doc["metadata"]["namespace"] == NAMESPACE
        local[doc["kind"]][doc["metadata"]["name"]] = set(doc["data"])
    production = {"Secret": {k: v for k, v in PRODUCTION_MADE.items() if k != "auth-jwks"},
                  "ConfigMap": {"auth-jwks": PRODUCTION_MADE["auth-jwks"]}}
    return {"local": local, "production": production}


def test_local_secrets_prints_valid_objects_and_the_same_ones_each_time(tmp_path):
    """`local_secrets.py | kubectl apply -f -`: valid Secrets and ConfigMap, whose passwords and
    keys are kept, so applying again changes nothing (a new password would lock the services out
    until the provisioning Job ran again)."""
    def run() -> list[dict]:
        done = subprocess.run([sys.executable, str(KUBERNETES / "local_secrets.py"), "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, check=True)
        return list(yaml.safe_load_all(done.stdout))
    first = run()
    for doc in first:
        kubernetes_validate.validate(doc, latest_version(), strict=True)
    assert run() == first
    assert {(d["kind"], d["metadata"]["name"]) for d in first} == {
        *(("Secret", f"{name}-tls") for name in (*SERVICES, "gateway")),
        *(("Secret", f"{name}-db") for name in SERVICES), ("Secret", "page-token"), ("ConfigMap", "auth-jwks")}
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "kubernetes").iterdir()} == {0o600}


def _containers(objects: Objects):
    for workload in objects.workloads():
        for container in pod_spec(workload)["containers"]:
            yield workload, container


def _service_deployments(objects: Objects):
    return [objects.named("Deployment", name) for name in SERVICES]


def _env(objects: Objects, container: dict) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env with $(VAR)
    expanded from what came before (a secret's value stands as <secret:name/key>)."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values.update(objects.config_map(source["configMapRef"]["name"].rsplit("-", 1)[0])["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            def expand(match):
                assert match.group(1) in values, f"{entry['name']}: $({match.group(1)}) is defined nowhere before it"
                return values[match.group(1)]
            values[entry["name"]] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", expand, entry["value"])
        elif "configMapKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["configMapKeyRef"]
            values[entry["name"]] = objects.config_map(ref["name"].rsplit("-", 1)[0])["data"][ref["key"]]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            values[entry["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
    return values


# --- renders, and is valid Kubernetes ---------------------------------------------------------

def test_every_object_of_every_overlay_is_valid_against_the_kubernetes_schemas(overlay):
    """Strict: an unknown or misspelt field fails too. The CloudNativePG Cluster is a custom
    resource the bundled schemas do not hold: it is skipped here and checked field by field in
    test_the_local_database_is_a_cloudnativepg_cluster_the_manifests_agree_with."""
    name, objects = overlay
    skipped = []
    for doc in objects.docs:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except SchemaNotFoundError:
                skipped.append((doc["apiVersion"], doc["kind"]))
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} is invalid for {version}: {error}")
    assert set(skipped) <= {("postgresql.cnpg.io/v1", "Cluster")}
    assert {doc["metadata"].get("namespace") for doc in objects.docs if doc["kind"] != "Namespace"} == {NAMESPACE}


def test_the_gateway_runs_the_repository_s_own_envoy_files_byte_for_byte(overlay):
    _, objects = overlay
    files = objects.config_map("gateway-files")
    for path in ("envoy.yaml", "docker-entrypoint.sh", "recordstore.pb.lua", "body_check.lua"):
        assert files["data"][path] == (REPO_ROOT / "gateway" / path).read_text()
    assert base64.b64decode(files["binaryData"]["recordstore.pb"]) == (REPO_ROOT / "gateway" / "recordstore.pb").read_bytes()
    sql = objects.config_map("db-provision-sql")["data"]
    assert sql == {path: (REPO_ROOT / "db" / path).read_text() for path in ("create_database.sql", "provision.sql")}


def test_the_gateway_s_entrypoint_finds_a_value_for_every_placeholder(overlay):
    _, objects = overlay
    entrypoint = (REPO_ROOT / "gateway" / "docker-entrypoint.sh").read_text()
    required = set(re.search(r"for name in (.*?); do", entrypoint, re.S).group(1).replace("\\", " ").split())
    # Values the entrypoint derives itself, or defaults when unset (the gateway's limits).
    own = set(re.findall(r"^\s*([A-Z_]+)=\$\(", entrypoint, re.M)) | set(re.findall(r'"\$\{([A-Z_]+):=', entrypoint))
    # The tracing block's placeholder is optional: the entrypoint drops the block when it is unset.
    envoy = TRACING_BLOCK.sub("", (REPO_ROOT / "gateway" / "envoy.yaml").read_text())
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", envoy))
    assert placeholders <= required
    gateway = objects.named("Deployment", "gateway")
    env = _env(objects, pod_spec(gateway)["containers"][0])
    assert required - own <= set(env), f"unset: {sorted(required - own - set(env))}"
    # Its upstreams are the services' headless Services, on their ports.
    for service, port in SERVICES.items():
        assert env[f"{service.upper()}_HOST"] == service
        assert env[f"{service.upper()}_PORT"] == str(port)


# --- replicas, autoscaling, disruption --------------------------------------------------------

def test_every_deployment_runs_at_least_two_replicas_owned_by_its_autoscaler(overlay):
    _, objects = overlay
    deployments = objects.of("Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {*SERVICES, "gateway"}
    autoscalers = {h["spec"]["scaleTargetRef"]["name"]: h for h in objects.of("HorizontalPodAutoscaler")}
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        hpa = autoscalers[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        # A replicas field would be reset at every apply, fighting the autoscaler.
        assert "replicas" not in deployment["spec"]
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rolling == {"maxSurge": 1, "maxUnavailable": 0}


def test_every_deployment_has_a_disruption_budget_that_keeps_one_pod_serving(overlay):
    _, objects = overlay
    budgets = objects.of("PodDisruptionBudget")
    for deployment in objects.of("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert len(mine) == 1, deployment["metadata"]["name"]
        assert mine[0]["spec"] == {"maxUnavailable": 1, "selector": mine[0]["spec"]["selector"]}


def test_the_database_connections_of_every_replica_fit_each_role_s_limit(overlay):
    """db/provision.sql caps each role's connections; the most pods a service can run (the
    autoscaler's maximum and the rollout's surge) times the pool, and the migrations' own
    connection, must stay within it, or the last pods cannot start."""
    _, objects = overlay
    limits = dict(re.findall(r"ALTER ROLE (\w+) CONNECTION LIMIT (\d+);", (REPO_ROOT / "db" / "provision.sql").read_text()))
    assert set(limits) == set(SERVICES)
    for deployment in _service_deployments(objects):
        name = deployment["metadata"]["name"]
        env = _env(objects, pod_spec(deployment)["containers"][0])
        most_pods = objects.named("HorizontalPodAutoscaler", name)["spec"]["maxReplicas"] + \
            deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        assert most_pods * int(env["DB_POOL_SIZE"]) + 1 <= int(limits[name]), name


# --- probes -----------------------------------------------------------------------------------

def test_every_service_is_probed_through_its_grpc_health_over_mutual_tls(overlay):
    _, objects = overlay
    assert (REPO_ROOT / "services" / "runtime" / "healthcheck.py").is_file()
    health = ["python", "-m", "services.runtime.healthcheck"]
    for deployment in _service_deployments(objects):
        container = pod_spec(deployment)["containers"][0]
        name = container["name"]
        assert container["args"] == [f"services.{name}"]
        # The health check asks the port of LISTEN_ADDR on loopback: the port the pod exposes.
        env = _env(objects, container)
        assert env["LISTEN_ADDR"] == f"0.0.0.0:{SERVICES[name]}"
        assert [p["containerPort"] for p in container["ports"]] == [SERVICES[name]]
        assert container["startupProbe"]["exec"]["command"] == health
        assert container["readinessProbe"]["exec"]["command"] == health
        # Liveness accepts NOT_SERVING (a database outage is not the pod's fault), not silence.
        liveness = container["livenessProbe"]["exec"]["command"]
        assert liveness[:2] == ["sh", "-c"] and liveness[2].startswith(" ".join(health))
        assert re.fullmatch(r".*grep -qE ': \(NOT_\)\?SERVING\$'", liveness[2])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["timeoutSeconds"] >= 5  # a Python start, under a CPU limit
        # Drain: the grace period covers the preStop pause and the service's own grace.
        grace = float(env["SHUTDOWN_GRACE_SECONDS"]) + container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > grace


def _serve_health(status: str, env: dict) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen([sys.executable, "-m", "tests.deploy.health_server", status], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()  # the port, once it serves (EOF if it died)
    assert line.strip().isdigit(), f"the health server did not start (exit {server.poll()})"
    return server, int(line)


def _probe(command: list[str], env: dict) -> int:
    return subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=30, capture_output=True).returncode


@pytest.mark.slow
def test_the_probe_commands_tell_serving_draining_and_gone_apart(tmp_path):
    """The rendered probes, run for real (as the pod would, as its own identity) against a
    service's gRPC server: readiness passes only while SERVING; liveness passes on NOT_SERVING
    too (database down, draining), and fails when nothing answers."""
    container = pod_spec(Objects(render("local")).named("Deployment", "catalog"))["containers"][0]
    readiness = container["readinessProbe"]["exec"]["command"]
    liveness = container["livenessProbe"]["exec"]["command"]
    pki = DevPki(tmp_path / "tls").ensure(["catalog"])
    env = {**os.environ, **pki.env("catalog"), "GRPC_VERBOSITY": "ERROR",
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}  # python: the venv's
    for status, ready in (("SERVING", True), ("NOT_SERVING", False)):
        server, port = _serve_health(status, env)
        try:
            pod_env = {**env, "LISTEN_ADDR": f"0.0.0.0:{port}"}
            assert (_probe(readiness, pod_env) == 0) is ready, status
            assert _probe(liveness, pod_env) == 0, status
        finally:
            server.kill()
            server.wait()
    with socket.socket() as unused:  # a port where nothing listens
        unused.bind(("127.0.0.1", 0))
        gone_env = {**env, "LISTEN_ADDR": f"0.0.0.0:{unused.getsockname()[1]}"}
        assert _probe(readiness, gone_env) != 0
        assert _probe(liveness, gone_env) != 0


def test_the_gateway_is_probed_through_envoy_s_readiness(overlay):
    _, objects = overlay
    container = pod_spec(objects.named("Deployment", "gateway"))["containers"][0]
    assert "/dev/tcp/127.0.0.1/9901" in container["readinessProbe"]["exec"]["command"][-1]
    assert "GET /ready" in container["readinessProbe"]["exec"]["command"][-1]
    assert container["livenessProbe"]["tcpSocket"]["port"] == "http"
    assert {"name": "http", "containerPort": 8080} in container["ports"]


# --- hardening --------------------------------------------------------------------------------

def test_every_pod_runs_unprivileged_on_a_read_only_root_without_a_service_account_token(overlay):
    _, objects = overlay
    image_uid = int(re.search(r"--uid (\d+)", (REPO_ROOT / "Dockerfile").read_text()).group(1))
    for workload, container in _containers(objects):
        spec = pod_spec(workload)
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        if container["image"].rsplit(":", 1)[0].endswith("recordstore-services"):
            assert pod_security["runAsUser"] == image_uid, where
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"]}}, where
        # A read-only root: whatever writes gets an emptyDir at /tmp.
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) == {"cpu", "memory"}, where
    assert objects.named("Namespace", NAMESPACE)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_each_service_mounts_only_its_own_key_and_password(overlay):
    _, objects = overlay
    for workload in objects.workloads():
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        for container in spec["containers"]:
            secrets |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
                        if "secretKeyRef" in e.get("valueFrom", {})}
            assert not any("secretRef" in source for source in container.get("envFrom", []))
        ca = {"database-ca", f"{CNPG_CLUSTER}-ca"} & secrets
        if name in SERVICES:
            assert secrets - ca == {f"{name}-tls", f"{name}-db", "page-token"}, name
        elif name == "gateway":
            assert secrets == {"gateway-tls"}
        else:  # the provisioning Job sets every role's password, as the database's administrator
            assert name == "db-provision"
            assert secrets - ca == {"customers-db", "catalog-db", "orders-db",
                                    "database-admin" if overlay[0] == "production" else f"{CNPG_CLUSTER}-superuser"}


def _file(objects: Objects, made: dict, spec: dict, container: dict, path: str) -> tuple[str, str, str]:
    """Which (kind, object, key) the container reads at `path`; fails when none holds it."""
    directory, _, filename = path.rpartition("/")
    mount = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert len(mount) == 1, f"{container['name']}: nothing mounted at {directory}"
    volume = next(v for v in spec["volumes"] if v["name"] == mount[0]["name"])
    if "secret" in volume:
        kind, name = "Secret", volume["secret"]["secretName"]
        items = volume["secret"].get("items")
    else:
        kind, name = "ConfigMap", volume["configMap"]["name"]
        items = volume["configMap"].get("items")
    key = next((i["key"] for i in items if i["path"] == filename), None) if items else filename
    assert key is not None, f"{container['name']}: no item of {name} at {path}"
    rendered = [d for d in objects.of(kind) if d["metadata"]["name"] == name]
    keys = set(rendered[0].get("data", {})) | set(rendered[0].get("binaryData", {})) if rendered else made[kind].get(name)
    assert keys is not None, f"{container['name']}: {kind} {name} is neither rendered nor made anywhere"
    assert key in keys, f"{container['name']}: {kind} {name} has no {key} ({sorted(keys)})"
    return kind, name, key


def test_every_file_and_secret_a_container_reads_exists(overlay, made_elsewhere):
    """The paths in the environment lead to a mounted key that exists: rendered, made by
    local_secrets.py or the operator (locally), or listed for operators to create (production)."""
    name, objects = overlay
    made = made_elsewhere[name]
    for workload, container in _containers(objects):
        spec = pod_spec(workload)
        env = _env(objects, container)
        for value in env.values():
            if value.startswith("<secret:"):
                secret, key = value[len("<secret:"):-1].split("/")
                assert key in made["Secret"][secret], f"{container['name']}: Secret {secret} has no {key}"
        paths = [v for k, v in env.items() if k.endswith(("_FILE", "_PATH")) or k == "PGSSLROOTCERT"]
        paths += re.findall(r"sslrootcert=([^&]+)", env.get("DATABASE_URL", ""))
        if container["name"] == "envoy":
            paths += [env["DESCRIPTOR_PATH"], env["DESCRIPTOR_PATH"] + ".lua",
                      container["command"][-1]]  # the entrypoint
        assert paths or container["name"] == "envoy"
        for path in paths:
            _file(objects, made, spec, container, path)
        for mount in container["volumeMounts"]:  # nothing mounted that is not there
            volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
            for source, field in (("secret", "secretName"), ("configMap", "name")):
                if source in volume:
                    kind = "Secret" if source == "secret" else "ConfigMap"
                    target = volume[source][field]
                    assert target in made[kind] or any(d["metadata"]["name"] == target for d in objects.of(kind))


def test_services_reach_postgresql_with_verify_full_and_without_a_password_in_the_url(overlay):
    name, objects = overlay
    host = objects.config_map("database")["data"]["DATABASE_HOST"]
    for deployment in _service_deployments(objects):
        service = deployment["metadata"]["name"]
        env = _env(objects, pod_spec(deployment)["containers"][0])
        assert env["DATABASE_URL"] == (f"postgresql://{service}@{host}:5432/recordstore"
                                       "?sslmode=verify-full&sslrootcert=/run/recordstore-db/ca.crt")
        assert env["PGPASSWORD"] == f"<secret:{service}-db/password>"
    if name == "local":  # the operator's read-write Service, which its certificate names
        assert host == f"{CNPG_CLUSTER}-rw"
    else:
        assert host.endswith(".rds.amazonaws.com")


# --- Services and the way orders finds its peers ----------------------------------------------

def test_the_services_are_headless_for_client_side_balancing_and_the_gateway_is_not(overlay):
    _, objects = overlay
    for name, port in SERVICES.items():
        service = objects.named("Service", name)
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["ports"] == [{"name": "grpc", "port": port, "targetPort": "grpc"}]
        pods = objects.named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert selects({"matchLabels": service["spec"]["selector"]}, pods)
    gateway = objects.named("Service", "gateway")
    assert gateway["spec"].get("clusterIP") != "None"
    orders = _env(objects, pod_spec(objects.named("Deployment", "orders"))["containers"][0])
    assert orders["CUSTOMERS_ADDR"] == "dns:///customers:50051"
    assert orders["CATALOG_ADDR"] == "dns:///catalog:50052"


def test_migrations_need_no_job_because_concurrent_starts_serialise_on_an_advisory_lock():
    """Every replica migrates at start (the Deployments have no migration Job or initContainer):
    safe only while the runner takes its lock before reading what is applied."""
    source = (REPO_ROOT / "services" / "runtime" / "migrations.py").read_text()
    assert source.index("pg_advisory_xact_lock") < source.index("cursor.execute(select_applied)")
    for name in OVERLAYS:
        objects = Objects(render(name))
        assert [j["metadata"]["name"] for j in objects.of("Job")] == ["db-provision"]
        assert not any(pod_spec(d).get("initContainers") for d in objects.of("Deployment"))


# --- the local database -----------------------------------------------------------------------

def test_the_local_database_is_a_cloudnativepg_cluster_the_manifests_agree_with(tmp_path):
    objects = Objects(render("local"))
    cluster = objects.named("Cluster", CNPG_CLUSTER)
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert set(spec) <= {"instances", "imageName", "enableSuperuserAccess", "bootstrap", "managed", "postgresql",
                         "storage", "resources"}
    assert spec["instances"] >= 1 and spec["imageName"].startswith("ghcr.io/cloudnative-pg/postgresql:18")
    # The db-provision Job logs in with the superuser Secret, which exists only with this on.
    assert spec["enableSuperuserAccess"] is True
    initdb = spec["bootstrap"]["initdb"]
    assert set(initdb) == {"database", "owner", "encoding", "localeProvider", "builtinLocale"}
    create_database = (REPO_ROOT / "db" / "create_database.sql").read_text()
    assert initdb["database"] == "recordstore" and "CREATE DATABASE recordstore" in create_database
    assert (initdb["localeProvider"], initdb["builtinLocale"]) == ("builtin", "C.UTF-8")
    assert "LOCALE_PROVIDER builtin BUILTIN_LOCALE ''C.UTF-8''" in create_database
    limits = {role: int(n) for role, n in
              re.findall(r"ALTER ROLE (\w+) CONNECTION LIMIT (\d+)", (REPO_ROOT / "db" / "provision.sql").read_text())}
    assert int(spec["postgresql"]["parameters"]["max_connections"]) > sum(limits.values())
    # The services' roles, as db/provision.sql makes them, with the passwords the services read.
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    assert set(roles) == set(SERVICES)
    for name, role in roles.items():
        assert role == {"name": name, "ensure": "present", "login": True, "connectionLimit": limits[name],
                        "passwordSecret": {"name": f"{name}-db"}}
    made = {doc["metadata"]["name"]: doc for doc in _local_secrets().objects(tmp_path)}
    for name in SERVICES:  # the operator wants a basic-auth Secret whose username is the role's
        assert made[f"{name}-db"]["type"] == "kubernetes.io/basic-auth"
        assert base64.b64decode(made[f"{name}-db"]["data"]["username"]).decode() == name


# --- network policies -------------------------------------------------------------------------

OUTSIDE = [
    Peer("client", ip="203.0.113.7"),  # anyone outside the cluster
    Peer("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, listens=((53, "UDP"), (53, "TCP"))),
    Peer("cnpg-operator", "cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}),
    Peer("kube-apiserver", ip="172.20.0.1", listens=((443, "TCP"),)),
    Peer("rds", ip="10.0.130.25", listens=((5432, "TCP"),)),  # in the production overlay's database network
]


def _peers(objects: Objects) -> list[Peer]:
    peers = list(OUTSIDE)
    for workload in objects.workloads():
        container = pod_spec(workload)["containers"][0]
        peers.append(Peer(workload["metadata"]["name"], NAMESPACE, workload["spec"]["template"]["metadata"]["labels"],
                          listens=tuple((p["containerPort"], "TCP") for p in container.get("ports", []))))
    if objects.of("Cluster"):  # the operator's instance pods
        peers.append(Peer(CNPG_CLUSTER, NAMESPACE, {"cnpg.io/cluster": CNPG_CLUSTER, "cnpg.io/instanceRole": "primary"},
                          listens=((5432, "TCP"), (8000, "TCP"))))
    return peers


def _intended(overlay: str) -> set[tuple[str, str, str]]:
    pods = [*SERVICES, "gateway", "db-provision"] + ([CNPG_CLUSTER] if overlay == "local" else [])
    clients = [*SERVICES, "db-provision"]
    wanted = {
        # The edge: whatever is outside the namespace may call the gateway.
        *((outside.name, "gateway", "8080/TCP") for outside in OUTSIDE),
        # The public RPCs of all three services, through the gateway.
        ("gateway", "customers", "50051/TCP"), ("gateway", "catalog", "50052/TCP"), ("gateway", "orders", "50053/TCP"),
        # GetCustomer, ReserveStock, ReleaseStock.
        ("orders", "customers", "50051/TCP"), ("orders", "catalog", "50052/TCP"),
        *((pod, "kube-dns", port) for pod in pods for port in ("53/UDP", "53/TCP")),
    }
    if overlay == "local":
        wanted |= {(client, CNPG_CLUSTER, "5432/TCP") for client in clients}
        wanted |= {(CNPG_CLUSTER, CNPG_CLUSTER, "5432/TCP"), ("cnpg-operator", CNPG_CLUSTER, "5432/TCP"),
                   ("cnpg-operator", CNPG_CLUSTER, "8000/TCP"), (CNPG_CLUSTER, "kube-apiserver", "443/TCP")}
    else:
        wanted |= {(client, "rds", "5432/TCP") for client in clients}
    return wanted


def test_network_policies_allow_exactly_the_intended_edges(overlay):
    name, objects = overlay
    allowed = edges(objects.of("NetworkPolicy"), _peers(objects), NAMESPACE)
    intended = _intended(name)
    assert allowed == intended, (f"allowed but not intended: {sorted(allowed - intended)}; "
                                 f"intended but not allowed: {sorted(intended - allowed)}")


def test_a_pod_no_policy_names_is_cut_off_by_the_default_deny(overlay):
    """A pod added later, with its own port, is reached by no one and reaches only DNS, and
    that is the default deny's doing: without it, anyone could call its port."""
    _, objects = overlay
    newcomer = Peer("newcomer", NAMESPACE, {"app.kubernetes.io/name": "newcomer"}, listens=((9000, "TCP"),))
    peers = [*_peers(objects), newcomer]
    involved = {e for e in edges(objects.of("NetworkPolicy"), peers, NAMESPACE) if "newcomer" in e[:2]}
    assert involved == {("newcomer", "kube-dns", "53/UDP"), ("newcomer", "kube-dns", "53/TCP")}
    without = [p for p in objects.of("NetworkPolicy") if p["metadata"]["name"] != "default-deny"]
    assert ("client", "newcomer", "9000/TCP") in edges(without, peers, NAMESPACE)
