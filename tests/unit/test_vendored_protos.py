"""The Google protos vendored in protos/third_party (for buf, other languages and generate.py)
are the installed googleapis-common-protos' own, unchanged, and every one of ours imports is
there (or is protobuf's own, google/protobuf/*, which every toolchain ships)."""

from __future__ import annotations

import re
from pathlib import Path

import google.api.annotations_pb2

from tests.support import REPO_ROOT

VENDORED = REPO_ROOT / "protos" / "third_party"
INSTALLED = Path(google.api.annotations_pb2.__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    return set(re.findall(r'^import "([^"]+)";', path.read_text(), re.MULTILINE))


def test_the_vendored_protos_are_the_installed_packages_own():
    vendored = sorted(VENDORED.glob("google/**/*.proto"))
    assert vendored
    changed = [str(p.relative_to(VENDORED)) for p in vendored
               if p.read_bytes() != (INSTALLED / p.relative_to(VENDORED)).read_bytes()]
    assert changed == []
    assert (VENDORED / "google" / "LICENSE").read_text().strip().startswith("Apache License")


def test_every_import_resolves_in_the_repository():
    ours = [p for p in (REPO_ROOT / "protos").glob("recordstore/**/*.proto")]
    pending, seen, missing = list(ours), set(), []
    while pending:
        for name in imports(pending.pop()):
            if name in seen or name.startswith("google/protobuf/"):
                continue
            seen.add(name)
            found = next((root / name for root in (REPO_ROOT / "protos", VENDORED) if (root / name).is_file()), None)
            if found is None:
                missing.append(name)
            else:
                pending.append(found)
    assert missing == [] and {"google/api/annotations.proto", "google/type/money.proto"} <= seen
