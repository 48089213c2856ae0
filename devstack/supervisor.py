"""Keeps the processes of a local stack running, as systemd or Kubernetes would.

A process that exits while the stack is not stopping is logged (name, exit code or signal) and
started again after a backoff: 0.5 s, doubling with every failure in a row that came within
10 s of its start, up to 10 s. The fifth such fast failure in a row is a crash loop: the
supervisor gives up (CrashLoop) rather than restart forever. A process that ran 10 s or more
before failing starts a new count.

Everything here runs on the caller's thread: children started with setpriv --pdeathsig die
with the thread that started them, so that thread must be the one that lives as long as they do.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("devstack")


class Handle(Protocol):
    pid: int

    def poll(self) -> int | None: ...


class CrashLoop(Exception):
    """A process kept failing right after its start; the message says which and how."""


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 0.5
    max_delay: float = 10.0
    fast: float = 10.0  # a failure sooner than this after the start counts towards a crash loop
    give_up_after: int = 5  # fast failures in a row

    def delay(self, fast_failures: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, fast_failures - 1))


@dataclass
class Unit:
    """One supervised process: how to start it and how to tell it is ready (a quick probe)."""

    name: str
    launch: Callable[[], Handle]
    ready: Callable[[], bool]
    handle: Handle | None = None
    started_at: float = 0.0
    is_ready: bool = False
    fast_failures: int = 0
    restart_at: float | None = None
    last_exit: str = ""


class NotStarted:
    """What a launch that raised leaves in place of a process."""

    pid = 0

    def __init__(self, error: Exception):
        self.error = error

    def poll(self) -> int:
        return 1

    def describe(self) -> str:
        return f"could not start ({str(self.error).strip()[:300]})"


def describe_exit(handle: Handle) -> str:
    if hasattr(handle, "describe"):  # not our child (a daemon): no exit status to tell
        return handle.describe()
    code = handle.poll()
    if code is None:
        return "is running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, units: list[Unit], policy: RestartPolicy = RestartPolicy(),
                 on_start: Callable[[Unit], None] = lambda unit: None):
        self.units = units
        self.policy = policy
        self.on_start = on_start
        self.all_ready_logged = False

    def start(self) -> None:
        for unit in self.units:
            self._launch(unit)

    def _launch(self, unit: Unit) -> None:
        try:
            unit.handle = unit.launch()
        except Exception as error:  # a start that fails is a failure like any other: backoff, then again
            unit.handle = NotStarted(error)
        unit.started_at = time.monotonic()
        unit.is_ready = False
        unit.restart_at = None
        self.on_start(unit)

    def step(self) -> None:
        """One look at every process: restart the due ones, note the ready ones, catch the dead ones."""
        now = time.monotonic()
        for unit in self.units:
            if unit.restart_at is not None:
                if now >= unit.restart_at:
                    log.info("restarting %s", unit.name)
                    self._launch(unit)
                continue
            if unit.handle.poll() is not None:
                self._failed(unit, now)
            elif not unit.is_ready and unit.ready():
                unit.is_ready = True
                if self.all_ready_logged:
                    log.info("%s is back (pid %d, %.1fs after its start)", unit.name, unit.handle.pid,
                             time.monotonic() - unit.started_at)
        if not self.all_ready_logged and all(unit.is_ready for unit in self.units):
            self.all_ready_logged = True
            log.info("ready: %s. Ctrl-C stops everything.",
                     ", ".join(f"{unit.name} (pid {unit.handle.pid})" for unit in self.units))

    def _failed(self, unit: Unit, now: float) -> None:
        lifetime = now - unit.started_at
        # A process that never got ready failed to start, however long its start took (on a loaded
        # machine a service's imports alone can pass `fast`): that too counts towards a crash loop.
        early = lifetime < self.policy.fast or not unit.is_ready
        unit.fast_failures = unit.fast_failures + 1 if early else 0
        who = f"pid {unit.handle.pid} " if unit.handle.pid else ""
        unit.last_exit = f"{who}{describe_exit(unit.handle)} after {lifetime:.1f}s"
        if unit.fast_failures >= self.policy.give_up_after:
            raise CrashLoop(f"{unit.name} failed {unit.fast_failures} times in a row, each before it was "
                            f"ready or within {self.policy.fast:.0f}s of its start (last: {unit.last_exit}): "
                            "giving up")
        delay = self.policy.delay(unit.fast_failures)
        unit.restart_at = now + delay
        log.error("%s: %s; restarting it in %.1fs", unit.name, unit.last_exit, delay)

    def run(self, stop_requested: threading.Event, tick: float = 0.2) -> None:
        """Supervises until stop_requested is set; raises CrashLoop on a crash loop."""
        while not stop_requested.is_set():
            self.step()
            stop_requested.wait(tick)

    def handles(self) -> list[Handle]:
        """What runs now, in start order (units waiting for their restart have nothing running)."""
        return [unit.handle for unit in self.units
                if unit.handle is not None and unit.restart_at is None and not isinstance(unit.handle, NotStarted)]
