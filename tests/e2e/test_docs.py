"""Every shell and code block of the README and the docs runs, against a stack this test starts,
or says why it cannot: the Markdown files are the input, so a page cannot drift from what runs.

- A block is fenced with its language. `sh` and `python` blocks run, from the checkout, as a
  reader pastes them: `bash -e -o pipefail`, and this suite's Python (the checkout's `.venv`).
  `text` and `mermaid` blocks are pictures, trees and tables; any other language, or none, fails.
- A block that cannot run here says why in an HTML comment right before it,
  `<!-- not run: a reason -->`; one that needs a tool the README does not install says which,
  `<!-- needs: node npm -->`, and is skipped, saying so, where the tool is missing.
- `#> ` lines in a block are output it must print, in that order, each a whole line (`...`
  matches anything).
- The stack is `python -m devstack` (what `scripts/run` runs) on free loopback ports, with its
  data in a folder of its own: before a block runs, the addresses it names (`localhost:8080`,
  `127.0.0.1:50051`...) become the stack's, the checkout's `.data/` becomes the stack's, and the
  tools that read `.data/postgres` by default (`devstack token`, `devstack.invariant`) are given
  the stack's. The examples' address variables (`CUSTOMERS_ADDR`...) are exported with the stack's
  addresses, as a reader whose ports moved would export them.
- Relative links between the pages resolve, anchors included; `docs/edge.md` and `docs/feed.md`
  are written elsewhere and expected.

Blocks run in the order of DOCUMENTS and of each page, on one stack: each block must work after
the ones before it, as it does for a reader pasting them one after another.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.loopback import free_port, port_in_use
from tests.support import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "CONTRIBUTING.md",
             REPO_ROOT / "protos" / "README.md", *sorted((REPO_ROOT / "examples").glob("*/README.md"))]
RUN = {"sh": ["bash", "-e", "-o", "pipefail", "-c"], "python": [sys.executable, "-c"]}
SHOWN = {"text", "mermaid"}
# Pages other engineers write, merged later: links to them are expected to dangle until then.
EXPECTED_PAGES = {REPO_ROOT / "docs" / "edge.md", REPO_ROOT / "docs" / "feed.md"}
MARKER = re.compile(r"<!--\s*(not run|needs):\s*(.*?)\s*-->")
BLOCK_TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, from 1
    language: str
    code: str
    marker: tuple[str, str] | None  # ("not run", reason) or ("needs", "tool tool")

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    def expected(self) -> list[str]:
        return [line[3:] if line.startswith("#> ") else "" for line in self.code.splitlines()
                if line.startswith("#> ") or line == "#>"]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            language, start = lines[i][3:].strip().split(" ")[0], i
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            assert end is not None, f"{path}:{i + 1}: a fence that is never closed"
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = MARKER.fullmatch(before.strip())
            found.append(Block(path, start + 1, language, "\n".join(lines[i + 1:end]) + "\n",
                               (marker[1], marker[2]) if marker else None))
            i = end
        i += 1
    return found


ALL_BLOCKS = [block for path in DOCUMENTS for block in blocks_of(path)]
TO_RUN = [block for block in ALL_BLOCKS
          if block.language in RUN and (block.marker is None or block.marker[0] == "needs")]


def test_every_block_runs_or_says_why():
    problems = []
    for block in ALL_BLOCKS:
        if block.language not in RUN and block.language not in SHOWN:
            problems.append(f"{block.name}: a block of language {block.language!r}: give it sh or python (run) "
                            f"or text or mermaid (shown)")
        elif block.marker and block.marker[0] == "not run" and len(block.marker[1]) < 10:
            problems.append(f"{block.name}: say why it is not run")
        elif block.marker and block.language in SHOWN:
            problems.append(f"{block.name}: a {block.language} block is never run: it needs no marker")
    assert problems == []
    assert len(TO_RUN) >= 8  # the README's two examples, the API's walk-through, the clients...


def anchors_of(path: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    slugs = set()
    for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        slugs.add(slug)
    return slugs


def test_every_link_between_the_pages_resolves():
    broken = []
    for path in DOCUMENTS:
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # another site
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if resolved in EXPECTED_PAGES:
                continue
            if not resolved.exists():
                broken.append(f"{path.relative_to(REPO_ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
                broken.append(f"{path.relative_to(REPO_ROOT)}: {target} (no such heading)")
    assert broken == []


@dataclass
class Stack:
    root: Path  # the stack's own .data
    gateway: int
    admin: int
    services: dict[str, int]

    def substitute(self, code: str) -> str:
        data = str(self.root)
        code = re.sub(r"(localhost|127\.0\.0\.1):8080\b", rf"\g<1>:{self.gateway}", code)
        code = re.sub(r"(localhost|127\.0\.0\.1):9901\b", rf"\g<1>:{self.admin}", code)
        for port, name in ((50051, "customers"), (50052, "catalog"), (50053, "orders")):
            code = re.sub(rf"(localhost|127\.0\.0\.1):{port}\b", rf"\g<1>:{self.services[name]}", code)
        code = code.replace("$PWD/.data/", f"{data}/")
        code = re.sub(r"(?<![\w./-])\.data/", lambda _: f"{data}/", code)
        code = code.replace("-m devstack token", f"-m devstack token --data-dir {data}/postgres")
        code = code.replace("-m devstack.invariant", f"-m devstack.invariant --data-dir {data}/postgres")
        return code.replace('"devstack", "token"', f'"devstack", "token", "--data-dir", "{data}/postgres"')

    def env(self) -> dict[str, str]:
        return {**os.environ, **{f"{name.upper()}_ADDR": f"localhost:{port}" for name, port in self.services.items()}}


def start(root: Path, log: Path) -> tuple[subprocess.Popen, Stack]:
    base = free_port()
    while any(port_in_use("127.0.0.1", base + i) for i in range(3)):
        base = free_port()
    stack = Stack(root, free_port(), free_port(), {"customers": base, "catalog": base + 1, "orders": base + 2})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--data-dir", str(root / "postgres"), "--base-port", str(base),
             "--gateway-port", str(stack.gateway), "--admin-port", str(stack.admin)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    return process, stack


def ready(process: subprocess.Popen, stack: Stack, log: Path, within: float = 120) -> bool:
    """Whether every process of the stack is up (the supervisor says so) and the gateway answers;
    False once the stack has exited (a port taken in between, on a shared machine)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if "ready:" in log.read_text(errors="replace"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{stack.gateway}/v1/discs?page_size=1", timeout=5):
                    return True
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"the stack did not start within {within} s: see {log}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs-stack")
    for attempt in range(3):
        log = folder / f"stack-{attempt}.log"
        process, started = start(folder / f"data-{attempt}" / ".data", log)
        if ready(process, started, log):
            break
    else:
        raise AssertionError(f"the stack did not start: see {folder}")
    yield started
    process.terminate()
    process.wait(timeout=60)


def lines_in_order(expected: list[str], output: str) -> bool:
    lines, at = output.splitlines(), 0
    for wanted in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("...")))
        at = next((i + 1 for i in range(at, len(lines)) if pattern.fullmatch(lines[i])), None)
        if at is None:
            return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("block", TO_RUN, ids=lambda block: block.name)
def test_the_block_runs_as_written(block, stack):
    if block.marker:  # needs: tools
        missing = [tool for tool in block.marker[1].split() if shutil.which(tool) is None]
        if missing:
            pytest.skip(f"{block.name} needs {', '.join(missing)}, not installed here")
    code = stack.substitute(block.code)
    done = subprocess.run([*RUN[block.language], code], cwd=REPO_ROOT, env=stack.env(), capture_output=True,
                          text=True, timeout=BLOCK_TIMEOUT)
    shown = f"{block.name} ran as:\n{code}\nexit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, shown
    assert lines_in_order(block.expected(), done.stdout), f"the #> lines were not printed in order\n{shown}"
