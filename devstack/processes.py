"""Starting, health-waiting and stopping the service processes of a local stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    address: str
    process: subprocess.Popen

    def alive(self) -> bool:
        return self.process.poll() is None


def start_service(name: str, address: str, database_url: str, extra_env: Mapping[str, str] = (),
                  log_file: Path | None = None) -> ServiceProcess:
    """Starts `python -m services.<name>` listening on `address`."""
    env = {**os.environ, "LISTEN_ADDR": address, "DATABASE_URL": database_url, **dict(extra_env)}
    output = open(log_file, "ab") if log_file else None
    process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO_ROOT, env=env,
                               stdout=output, stderr=subprocess.STDOUT if output else None)
    return ServiceProcess(name, address, process)


def wait_serving(address: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Waits until the server at `address` answers its health check with SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the process for {address} exited with code {process.returncode}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} was not SERVING after {timeout:.0f}s")
            time.sleep(0.1)


def stop(processes: list[subprocess.Popen], grace: float = 15.0) -> dict[int, int]:
    """SIGTERM to all, then waits; whatever outlives the grace period is killed. pid -> exit code."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = {}
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            codes[process.pid] = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            codes[process.pid] = process.wait()
    return codes
