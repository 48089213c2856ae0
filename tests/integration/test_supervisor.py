"""`python -m devstack` as a supervisor runs it: restarts what dies, gives up on a crash loop,
takes its children with it when killed, and cleans up after a run that died."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc import intercept_channel
import psutil
import pytest
from recordstore.customers.v1 import customers_pb2, customers_pb2_grpc

from devstack.credentials import issuer_in
from devstack.pki import pki_in
from devstack.gateway import envoy_ready
from devstack.loopback import free_port, port_in_use
from devstack.postgres import Cluster, postmaster_pid, stop_embedded
from devstack.processes import REPO_ROOT, serving
from services.runtime import tls
from services.runtime.tls import TlsFiles
from tests.support import Bearer

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(0.1)


def free_block(count: int) -> int:
    """A first port such that it and the next count-1 are free."""
    while True:
        base = free_port()
        if base + count < 65536 and not any(port_in_use("127.0.0.1", base + i) for i in range(count)):
            return base


class DevStack:
    """One `python -m devstack` process, its output in a file."""

    started: list[DevStack] = []

    def __init__(self, data_dir: Path, log: Path, base_port: int, gateway: tuple[int, int] | None = None,
                 env: dict | None = None):
        self.data_dir, self.log, self.base_port, self.gateway = data_dir, log, base_port, gateway
        command = [sys.executable, "-m", "devstack", "--data-dir", str(data_dir), "--base-port", str(base_port)]
        command += ["--gateway-port", str(gateway[0]), "--admin-port", str(gateway[1])] if gateway else ["--no-gateway"]
        with open(log, "ab") as output:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **(env or {})},
                                            stdout=output, stderr=subprocess.STDOUT)
        self.started.append(self)

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.base_port + index}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, pattern: str, timeout: float = 60) -> re.Match:
        def found():
            match = re.search(pattern, self.output())
            assert match or self.process.poll() is None, f"the run ended first:\n{self.output()[-4000:]}"
            return match
        return wait_for(found, timeout, f"{pattern!r} in the output")

    def wait_ready(self, timeout: float = 90) -> None:
        self.wait_output(r"devstack INFO: ready: ", timeout)

    def child(self, name: str) -> psutil.Process:
        """The current process of a service (by its command line) or of Envoy."""
        for child in psutil.Process(self.process.pid).children():
            command = " ".join(child.cmdline())
            if (name == "gateway" and "envoy" in command) or f"services.{name}" in command:
                return child
        raise LookupError(name)

    def interrupt(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def client_of(data_dir: Path) -> TlsFiles:
    """The `client` certificate of the run on `data_dir` (its CA accepts no other)."""
    pki = pki_in(data_dir).ensure()
    return TlsFiles.of(pki.ca_path, pki.cert_path("client"), pki.key_path("client"))


def answers(address: str, data_dir: Path) -> bool:
    """The customers service answers a real call (not only its health check), from the staff of
    the run on `data_dir` (whose signing key it made)."""
    with intercept_channel(tls.channel(address, client_of(data_dir)), Bearer(issuer_in(data_dir).staff_token())) as staff:
        stub = customers_pb2_grpc.CustomerServiceStub(staff)
        try:
            stub.ListCustomers(customers_pb2.ListCustomersRequest(page_size=1), timeout=2)
            return True
        except grpc.RpcError:
            return False


@pytest.fixture(autouse=True)
def nothing_left_behind(tmp_path):
    """Whatever a failing test leaves running here is stopped: runs (their children die with
    them), then the PostgreSQL of their data directory."""
    yield
    for stack in DevStack.started:
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait(timeout=30)
    DevStack.started.clear()
    if postmaster_pid(tmp_path / "pg") is not None:
        stop_embedded(Cluster("", tmp_path / "pg"))


@pytest.fixture
def ports():
    base = free_block(3)
    return base, (free_port(), free_port())


def test_a_killed_service_and_a_killed_gateway_come_back_and_the_stack_still_answers(tmp_path, ports):
    base, gateway = ports
    stack = DevStack(tmp_path / "pg", tmp_path / "run.log", base, gateway)
    try:
        stack.wait_ready()
        killed = stack.child("customers")
        killed.kill()
        stack.wait_output(rf"customers: pid {killed.pid} was killed by SIGKILL after [\d.]+s; restarting it in 0\.5s")
        wait_for(lambda: serving(stack.address(0), 0.5, files=client_of(stack.data_dir)), 30,
                 "customers SERVING again")
        assert stack.child("customers").pid != killed.pid
        assert answers(stack.address(0), stack.data_dir)

        envoy = stack.child("gateway")
        envoy.kill()
        stack.wait_output(rf"gateway: pid {envoy.pid} was killed by SIGKILL")
        wait_for(lambda: envoy_ready(f"http://127.0.0.1:{gateway[1]}"), 30, "Envoy ready again")
        assert stack.process.poll() is None
    finally:
        code = stack.interrupt()
    assert code == 0, stack.output()


def test_a_service_failing_at_once_is_a_crash_loop_the_run_gives_up_on(tmp_path, ports):
    base, _ = ports
    # Only orders reads it, and refuses to start (exit code 2) on a value that is not a number.
    stack = DevStack(tmp_path / "pg", tmp_path / "run.log", base, env={"REQUEST_BUDGET_SECONDS": "soon"})
    children = []

    def watch():  # every process the run starts, to check none outlives it
        try:
            children.extend(c for c in psutil.Process(stack.process.pid).children() if c not in children)
        except psutil.NoSuchProcess:
            pass
        return stack.process.poll() is not None

    wait_for(watch, 120, "the run gives up")
    output = stack.output()
    assert stack.process.returncode == 1, output
    assert "orders failed 5 times in a row, each before it was ready or within 10s of its start" in output
    assert "giving up" in output and "Traceback" not in output
    assert len(re.findall(r"orders: pid \d+ exited with code 2 after", output)) == 4
    assert [float(d) for d in re.findall(r"restarting it in ([\d.]+)s", output)] == [0.5, 1.0, 2.0, 4.0]
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert postmaster_pid(tmp_path / "pg") is None


def test_a_killed_run_takes_its_children_along_and_the_next_start_cleans_up_its_postgres(tmp_path, ports):
    base, _ = ports
    first = DevStack(tmp_path / "pg", tmp_path / "first.log", base)
    first.wait_ready()
    children = psutil.Process(first.process.pid).children()
    assert len(children) == 3
    left_postgres = postmaster_pid(tmp_path / "pg")

    first.process.kill()
    first.process.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"outlived the run: {[c.cmdline() for c in alive]}"
    assert postmaster_pid(tmp_path / "pg") == left_postgres  # a daemon: the next start's to stop

    second = DevStack(tmp_path / "pg", tmp_path / "second.log", base)
    try:
        second.wait_ready()
        assert f"PostgreSQL (pid {left_postgres}) is still running" in second.output()
        assert postmaster_pid(tmp_path / "pg") not in (None, left_postgres)
        assert answers(second.address(0), second.data_dir)

        third = DevStack(tmp_path / "pg", tmp_path / "third.log", base)
        assert third.process.wait(timeout=60) == 2
        assert f"another stack (pid {second.process.pid}) runs on this data directory" in third.output()
        assert second.process.poll() is None
    finally:
        code = second.interrupt()
    assert code == 0, second.output()
    assert postmaster_pid(tmp_path / "pg") is None


def test_stress_against_a_stack_that_is_not_running_says_so_in_one_line():
    down = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    result = subprocess.run([sys.executable, "-m", "devstack.stress", "--customers", down[0], "--catalog", down[1],
                             "--orders", down[2], "--duration", "1"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"stress: cannot reach customers at {down[0]}: is scripts/run running?"
    assert result.stdout == ""


def test_a_port_held_by_another_process_is_refused_naming_its_holder(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "devstack", "--data-dir", str(tmp_path / "pg"),
                                 "--base-port", str(port), "--no-gateway"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 2
    assert f"port(s) [{port}] already in use on 127.0.0.1, held by pid {os.getpid()} (" in result.stderr
    assert "Traceback" not in result.stderr and postmaster_pid(tmp_path / "pg") is None
