"""docs/feed.md's Python consumer runs as written: killed with SIGKILL mid-stream and started
again, it resumes from its last cursor and, deduplicated by cursor, has seen every event exactly
once. (Its curl command runs in tests/e2e/test_feed_json.py, against the gateway.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from devstack.processes import PKI_DIR
from tests.integration.test_feed import end_of
from tests.support import REPO_ROOT, buy, create_customer, create_disc

FEED_DOC = (REPO_ROOT / "docs" / "feed.md").read_text()


def code_block(heading: str, language: str) -> str:
    """The first `language` block under `heading` in docs/feed.md."""
    section = FEED_DOC.split(f"\n## {heading}\n", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)


class Consumer:
    """The documented consumer as a process of its own, its output lines kept as they come."""

    def __init__(self, script, env):
        self.process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def wait_for(self, enough, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not enough(self.lines):
            assert self.process.poll() is None, f"the consumer exited: {self.process.stderr.read()}"
            assert time.monotonic() < deadline, f"the consumer printed {len(self.lines)} line(s) only"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(10)


def test_the_documented_consumer_killed_mid_stream_resumes_and_sees_each_event_once(stack, cluster, tmp_path):
    script = tmp_path / "consume_purchases.py"
    script.write_text(code_block("A Python consumer", "python"))
    start = end_of(cluster, "orders")
    cursor_file = tmp_path / "purchases.cursor"
    cursor_file.write_text(start)  # this test's events only: the feed's others are older
    env = {**os.environ, "ORDERS_ADDR": stack.addresses["orders"], "TLS_DIR": os.environ[PKI_DIR],
           "STAFF_TOKEN": stack.staff_token, "CURSOR_FILE": str(cursor_file)}
    customer, disc = create_customer(stack), create_disc(stack, stock=1000)
    bought = []

    def shop(count: int) -> None:
        for _ in range(count):
            bought.append(buy(stack, customer.id, disc.id).id)

    shop(20)
    first = Consumer(script, env)
    shopping = threading.Thread(target=shop, args=(40,))
    shopping.start()
    try:
        first.wait_for(lambda lines: len(lines) >= 25)  # mid-stream: some replayed, some live
    finally:
        first.kill()
    shopping.join()
    second = Consumer(script, env)
    try:
        end = end_of(cluster, "orders")
        second.wait_for(lambda lines: lines and int(lines[-1]["cursor"]) >= int(end))
    finally:
        second.kill()
    seen = {}
    for line in first.lines + second.lines:
        seen.setdefault(line["cursor"], line)
    assert sorted(line["purchase"] for line in seen.values()) == sorted(bought)  # each once, none missing
    assert {line["type"] for line in seen.values()} == {"CONFIRMED"}
    for run in (first.lines, second.lines):
        cursors = [int(line["cursor"]) for line in run]
        assert cursors == sorted(set(cursors)) and cursors[0] > int(start)
    # The second run began where the first had recorded its progress: at most the events it
    # handled but had not recorded yet came twice.
    assert len(first.lines) + len(second.lines) - len(seen) <= 1
