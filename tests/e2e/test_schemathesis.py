"""The contract holds: Schemathesis with every check and every phase, and its own codec (UTF-8),
against the real gateway, in front of a stack of its own (its stateful phase restocks, deactivates
and cancels, and its fuzzing fills tables), finds no failure and no 5xx. Bounded: about 900 cases,
two to three minutes on 2 cores, most of it Hypothesis building the text pattern's character
classes, which span all of Unicode, one code point at a time.

By hand, against any running stack (docs/api.md, "The contract"):
    PYTHONPATH=. schemathesis --config-file tests/e2e/schemathesis.toml run docs/openapi.json \\
        -u http://127.0.0.1:8080 --checks all --phases examples,coverage,fuzzing,stateful
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.loopback import free_port, port_in_use
from tests.support import REPO_ROOT

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Cases per operation and phase: enough for every boundary the coverage phase draws, and runs in
# about a minute here. A seed keeps a failure reproducible; SCHEMATHESIS_SEED explores others.
MAX_EXAMPLES = 10
SEED = os.environ.get("SCHEMATHESIS_SEED", "3")


def serving(url: str, process: subprocess.Popen, timeout: float = 90) -> bool:
    """Whether the gateway at `url` answers within `timeout` (False once the stack has exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/v1/discs?page_size=1", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the gateway did not serve within {timeout} s")


def token(data_dir: Path, *role: str) -> str:
    """A real token of the stack's own issuer (python -m devstack token)."""
    return subprocess.run([sys.executable, "-m", "devstack", "token", *role, "--data-dir", str(data_dir)],
                          cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout.strip()


def start_stack(tmp_path, attempt: int) -> tuple[subprocess.Popen, str]:
    base_port = free_port()
    while any(port_in_use("127.0.0.1", base_port + i) for i in range(3)):
        base_port = free_port()
    gateway_port, admin_port = free_port(), free_port()
    with open(tmp_path / f"stack-{attempt}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--data-dir", str(tmp_path / f"pg-{attempt}"),
             "--base-port", str(base_port), "--gateway-port", str(gateway_port), "--admin-port", str(admin_port)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{gateway_port}"


@pytest.fixture
def own_stack(tmp_path):
    # Ports are picked free, but another process may take one before the stack binds it (the
    # machine is shared): a stack that exits before serving is started again on other ports.
    for attempt in range(3):
        process, url = start_stack(tmp_path, attempt)
        if serving(url, process):
            break
    else:
        raise AssertionError(f"the stack did not start: see {tmp_path}/stack-*.log")
    data_dir = tmp_path / f"pg-{attempt}"
    tokens = {"RECORDSTORE_STAFF_TOKEN": token(data_dir, "--staff"),
              "RECORDSTORE_CUSTOMER_TOKEN": token(data_dir, "--customer", "schemathesis-shopper")}
    try:
        yield url, tokens
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
def test_schemathesis_finds_no_failure_and_no_server_error(own_stack, tmp_path):
    own_stack, tokens = own_stack
    result = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", "tests/e2e/schemathesis.toml", "run", "docs/openapi.json",
         "-u", own_stack, "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--no-color",
         "--report", "junit", "--report-dir", str(tmp_path / "report")],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **tokens}, capture_output=True, text=True,
        timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and "failed" not in output.split("Test cases:")[-1], output[-3000:]
