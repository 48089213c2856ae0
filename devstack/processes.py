"""Starting, health-waiting and stopping the service processes of a local stack."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime import tls

from .pki import DevPki

REPO_ROOT = Path(__file__).resolve().parent.parent


def dying_with_parent(command: list[str]) -> list[str]:
    """`command`, made to get SIGTERM when the thread that starts it dies (even by SIGKILL).

    setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the command: the same process, with no
    Python preexec_fn, which would make CPython fork instead of vfork (unsafe with gRPC threads).
    The signal follows the *thread* that started the child: start children from the main thread,
    or from one that lives as long as they should. Without setpriv (not Linux) children may
    outlive a killed parent; the next run of the stack cleans them up (see devstack.runfile).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    address: str
    process: subprocess.Popen

    def alive(self) -> bool:
        return self.process.poll() is None


PKI_DIR = "RECORDSTORE_PKI_DIR"  # the development CA's folder (devstack.pki) of this stack, when set


def start_service(name: str, address: str, database_url: str, extra_env: Mapping[str, str] = (),
                  log_file: Path | None = None) -> ServiceProcess:
    """Starts `python -m services.<name>` listening on `address`; it dies with this thread.

    With RECORDSTORE_PKI_DIR set (scripts/run and the tests set it), the service gets its own
    certificate of that development CA (TLS_*)."""
    own_tls = DevPki(Path(os.environ[PKI_DIR])).env(name) if os.environ.get(PKI_DIR) else {}
    env = {**os.environ, **own_tls, "LISTEN_ADDR": address, "DATABASE_URL": database_url, **dict(extra_env)}
    env.setdefault("METRICS_ADDR", "127.0.0.1:0")  # never the fixed default: stacks and tests run side by side
    output = open(log_file, "ab") if log_file else None
    process = subprocess.Popen(dying_with_parent([sys.executable, "-m", f"services.{name}"]), cwd=REPO_ROOT,
                               env=env, stdout=output, stderr=subprocess.STDOUT if output else None)
    if output:
        output.close()  # the child has its own copy
    return ServiceProcess(name, address, process)


def serving(address: str, timeout: float = 0.5, channel: grpc.Channel | None = None,
            files: tls.TlsFiles | None = None) -> bool:
    """Whether the server at `address` answers its health check with SERVING right now (asked over
    mutual TLS with this process's certificate, or `files`)."""
    if channel is None:
        with tls.channel(address, files) as own:
            return serving(address, timeout, own)
    try:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout).status
    except grpc.RpcError:
        return False
    return status == health_pb2.HealthCheckResponse.SERVING


def wait_serving(address: str, timeout: float, process: subprocess.Popen | None = None,
                 files: tls.TlsFiles | None = None) -> None:
    """Waits until the server at `address` answers its health check with SERVING."""
    deadline = time.monotonic() + timeout
    with tls.channel(address, files) as channel:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the process for {address} exited with code {process.returncode}")
            if serving(address, 0.5, channel):
                return
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
