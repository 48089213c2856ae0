"""The run file of a local stack: who runs on a data directory, and what a dead run left behind.

`<data dir>.run` (for scripts/run: .data/postgres.run) holds the supervisor's pid and the pid
and start time of each process it started. The supervisor keeps it locked (flock) while it
lives; the kernel drops the lock when the process dies, however it dies (SIGKILL included). So
a start that gets the lock knows any earlier run is dead and may clean up after it, and a start
that does not get it knows another supervisor is alive and refuses.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
from pathlib import Path

import psutil


class AlreadyRunning(Exception):
    """Another live supervisor holds the run file."""


def run_file_of(data_dir: Path) -> Path:
    data_dir = Path(data_dir).resolve()
    return data_dir.with_name(f"{data_dir.name}.run")


class RunFile:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None
        self.children: dict[str, list] = {}

    def acquire(self) -> dict:
        """Locks the file for this process; returns what the previous run recorded ({} if none)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # not inherited by children: Python opens files close-on-exec
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = read_record(handle.read()).get("supervisor", "?")
            handle.close()
            raise AlreadyRunning(f"another stack (pid {holder}) runs on this data directory; stop it first "
                                 f"(Ctrl-C in its terminal, or kill {holder})") from None
        handle.seek(0)
        previous = read_record(handle.read())
        self._file = handle
        self._write()
        return previous

    def record(self, name: str, pid: int) -> None:
        """Notes a process this run started (its start time guards against a reused pid)."""
        try:
            self.children[name] = [pid, psutil.Process(pid).create_time()]
        except psutil.NoSuchProcess:
            self.children.pop(name, None)
        self._write()

    def release(self) -> None:
        if self._file is not None:
            self.children = {}
            self._write()
            self._file.close()  # drops the lock
            self._file = None

    def _write(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"supervisor": os.getpid(), "children": self.children}))
        self._file.flush()


def read_record(text: str) -> dict:
    try:
        record = json.loads(text)
        return record if isinstance(record, dict) else {}
    except ValueError:
        return {}


def survivors(record: dict) -> list[psutil.Process]:
    """The processes a dead run recorded that still run (same pid and same start time)."""
    found = []
    for pid, created in (record.get("children") or {}).values():
        try:
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, TypeError, ValueError):
            pass
    return found


def end_survivors(processes: list[psutil.Process], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL for whatever still runs after `grace` seconds."""
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
