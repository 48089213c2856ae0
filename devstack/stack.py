"""The three services' processes on one cluster (one or more replicas of each), started together
and stopped together."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from .postgres import SERVICES, Cluster
from .processes import ServiceProcess, start_service, stop, wait_serving


def instance_names(service: str, replicas: int) -> list[str]:
    """The processes of a service: `catalog` alone, or `catalog-1`, `catalog-2`... as replicas."""
    return [service] if replicas == 1 else [f"{service}-{i}" for i in range(1, replicas + 1)]


def service_of(instance: str) -> str:
    return instance.partition("-")[0]


def grpc_target(addresses: list[str]) -> str:
    """A gRPC target that names every address, for a client's round_robin: `host:port` for one,
    `ipv4:a:p,b:q` (or ipv6:) for several; one host name that resolves to all of them (DNS) is
    what the deployments use instead."""
    if len(addresses) == 1:
        return addresses[0]
    hosts = [address.rpartition(":")[0].strip("[]") for address in addresses]
    try:
        versions = {ipaddress.ip_address(host).version for host in hosts}
    except ValueError:
        raise ValueError(f"several replicas need IP addresses (a list target), not host names: {addresses}") from None
    if len(versions) != 1:
        raise ValueError(f"replicas on IPv4 and IPv6 at once cannot share one target: {addresses}")
    return f"ipv{versions.pop()}:" + ",".join(addresses)


@dataclass
class ServiceStack:
    cluster: Cluster
    addresses: dict[str, str]  # instance name (see instance_names) -> its address
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # by service or instance name
    auth_env: dict[str, str] = field(default_factory=dict)  # every service's AUTH_* (credentials.DevIssuer.env)
    log_dir: Path | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def replicas(self, service: str) -> list[str]:
        """The addresses of a service's instances."""
        return [address for instance, address in self.addresses.items() if service_of(instance) == service]

    def env_for(self, instance: str) -> dict[str, str]:
        service = service_of(instance)
        # By service, then by instance (a replica's own METRICS_ADDR, say).
        env = {**self.auth_env, **self.extra_env.get(service, {}), **self.extra_env.get(instance, {})}
        if service == "orders":
            # Every replica of its peers, balanced by the orders service (round_robin).
            env = {"CUSTOMERS_ADDR": grpc_target(self.replicas("customers")),
                   "CATALOG_ADDR": grpc_target(self.replicas("catalog")), **env}
        return env

    def start(self, *names: str, timeout: float = 60) -> None:
        """Starts the named instances (all by default) at once, then waits until each is SERVING.

        Orders connects to its peers lazily, so no start order is needed; replicas starting at
        once apply each migration once (an advisory lock).
        """
        started = [self.launch(name) for name in names or self.addresses]
        for service in started:
            wait_serving(service.address, timeout=timeout, process=service.process)

    def launch(self, instance: str) -> ServiceProcess:
        """Starts one instance (again), without waiting for it."""
        log_file = self.log_dir / f"{instance}.log" if self.log_dir else None
        self.processes[instance] = start_service(service_of(instance), self.addresses[instance],
                                                 self.cluster.service_url(service_of(instance)),
                                                 self.env_for(instance), log_file)
        return self.processes[instance]

    def stop(self, grace: float = 15.0) -> dict[int, int]:
        order = sorted(self.processes, key=lambda instance: SERVICES.index(service_of(instance)), reverse=True)
        return stop([self.processes[n].process for n in order], grace)
