import subprocess
import sys

from tests.support import REPO_ROOT


def test_generated_stubs_and_gateway_descriptors_are_up_to_date():
    result = subprocess.run([sys.executable, "protos/generate.py", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
