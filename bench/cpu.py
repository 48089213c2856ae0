"""CPU time of processes over a phase, from /proc: what each part of the system costs."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_seconds(pid: int, with_children: bool = False) -> float:
    """User + system seconds of `pid` (plus its reaped children's, for a server's workers)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == pid:  # ppid
                found.append(int(entry))
    return found


def postgres_seconds(postmaster: int) -> float:
    """The whole server: the postmaster, its live backends, and the backends that have exited.

    Backends are read before the postmaster: one that exits in between is then counted twice
    (briefly over) rather than not at all (a negative figure).
    """
    backends = sum(process_seconds(p) for p in children_of(postmaster))
    return backends + process_seconds(postmaster, with_children=True)


@dataclass
class Meter:
    """Measures, over a `with` block, the CPU of named processes and of this process's children
    that finished inside it (the load generators)."""

    pids: dict[str, int]
    postmaster: int | None = None
    servers: dict[str, int] | None = None  # pre-forking servers: the master and its live workers

    def _sample(self) -> dict[str, float]:
        sample = {name: process_seconds(pid) for name, pid in self.pids.items()}
        for name, pid in (self.servers or {}).items():
            sample[name] = sum(process_seconds(p) for p in children_of(pid)) + process_seconds(pid, with_children=True)
        if self.postmaster:
            sample["postgres"] = postgres_seconds(self.postmaster)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        sample["load generator"] = usage.ru_utime + usage.ru_stime
        return sample

    def __enter__(self):
        self._start, self._wall = self._sample(), time.monotonic()
        return self

    def __exit__(self, *exc):
        end, wall = self._sample(), time.monotonic() - self._wall
        # Cores busy on average: 1.0 is one core all the time.
        self.cores = {name: round((end[name] - self._start[name]) / wall, 2) for name in end}
        return False
