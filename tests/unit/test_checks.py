"""The checks a Python team expects, on services/: ruff's lint and format, and mypy, with the settings of
pyproject.toml and the pinned versions of requirements.txt. A finding fails the suite."""

import subprocess
import sys

import pytest

from tests.support import REPO_ROOT


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing_in_services():
    result = run("ruff", "check", "--no-cache", "services")
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_are_formatted_as_ruff_formats_them():
    result = run("ruff", "format", "--check", "--no-cache", "services")
    assert result.returncode == 0, f"run `.venv/bin/ruff format services`:\n{result.stdout}{result.stderr}"


@pytest.mark.slow
def test_mypy_finds_nothing_in_services():
    result = run("mypy")  # files, stubs and strictness: pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
