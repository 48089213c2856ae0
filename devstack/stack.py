"""The three service processes on one cluster, started together and stopped together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .postgres import SERVICES, Cluster
from .processes import ServiceProcess, start_service, stop, wait_serving


@dataclass
class ServiceStack:
    cluster: Cluster
    addresses: dict[str, str]
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    auth_env: dict[str, str] = field(default_factory=dict)  # every service's AUTH_* (credentials.DevIssuer.env)
    log_dir: Path | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def env_for(self, name: str) -> dict[str, str]:
        env = {**self.auth_env, **self.extra_env.get(name, {})}
        if name == "orders":
            env = {"CUSTOMERS_ADDR": self.addresses["customers"], "CATALOG_ADDR": self.addresses["catalog"], **env}
        return env

    def start(self, *names: str, timeout: float = 60) -> None:
        """Starts the named services (all by default) at once, then waits until each is SERVING.

        Orders connects to its peers lazily, so no start order is needed.
        """
        started = [self.launch(name) for name in names or SERVICES]
        for service in started:
            wait_serving(service.address, timeout=timeout, process=service.process)

    def launch(self, name: str) -> ServiceProcess:
        """Starts one service (again), without waiting for it."""
        log_file = self.log_dir / f"{name}.log" if self.log_dir else None
        self.processes[name] = start_service(name, self.addresses[name], self.cluster.service_url(name),
                                             self.env_for(name), log_file)
        return self.processes[name]

    def stop(self, grace: float = 15.0) -> dict[int, int]:
        return stop([self.processes[n].process for n in reversed(SERVICES) if n in self.processes], grace)
