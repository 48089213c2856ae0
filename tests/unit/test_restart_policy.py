"""The supervisor's restart policy, on real (tiny) processes."""

import subprocess
import sys
import time

import pytest

from devstack.supervisor import CrashLoop, RestartPolicy, Supervisor, Unit, describe_exit


def test_the_backoff_doubles_from_half_a_second_up_to_ten():
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(0, 8)] == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_an_exit_is_told_by_its_code_or_its_signal():
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    killed.kill()
    killed.wait()
    assert describe_exit(exited) == "exited with code 3"
    assert describe_exit(killed) == "was killed by SIGKILL"


def supervise_until(supervisor, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.step()
        time.sleep(0.01)


def test_fast_failures_in_a_row_are_a_crash_loop():
    launched = []

    def launch():
        launched.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
        return launched[-1]

    supervisor = Supervisor([Unit("doomed", launch, lambda: True)],
                            RestartPolicy(first_delay=0.01, max_delay=0.05, fast=10, give_up_after=3))
    supervisor.start()
    with pytest.raises(CrashLoop, match=r"doomed failed 3 times in a row, each before it was ready or within 10s of its start "
                                        r"\(last: pid \d+ exited with code 3 after"):
        supervise_until(supervisor, 60)
    assert len(launched) == 3


def test_a_failure_after_a_long_enough_run_starts_a_new_count():
    launched = []

    def launch():
        launched.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"]))
        return launched[-1]

    supervisor = Supervisor([Unit("steady", launch, lambda: True)],
                            RestartPolicy(first_delay=0.01, max_delay=0.05, fast=0.2, give_up_after=2))
    supervisor.start()
    supervise_until(supervisor, 3)  # every run outlives `fast`: restarted again and again, never given up
    assert len(launched) >= 3 and supervisor.units[0].fast_failures == 0


def test_failures_before_ready_are_a_crash_loop_however_long_the_start_took():
    launched = []

    def launch():  # outlives `fast`, but never answers its readiness probe
        launched.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"]))
        return launched[-1]

    supervisor = Supervisor([Unit("stuck", launch, lambda: False)],
                            RestartPolicy(first_delay=0.01, max_delay=0.05, fast=0.1, give_up_after=2))
    supervisor.start()
    with pytest.raises(CrashLoop, match=r"stuck failed 2 times in a row, each before it was ready"):
        supervise_until(supervisor, 30)
    assert len(launched) == 2


def test_a_start_that_raises_is_retried_like_a_failure():
    attempts = []

    def launch():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("pg_ctl start failed")
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])

    supervisor = Supervisor([Unit("flaky", launch, lambda: True)], RestartPolicy(first_delay=0.01, max_delay=0.05))
    supervisor.start()
    supervise_until(supervisor, 1)
    try:
        assert len(attempts) == 3 and supervisor.all_ready_logged
    finally:
        supervisor.units[0].handle.kill()
        supervisor.units[0].handle.wait()
