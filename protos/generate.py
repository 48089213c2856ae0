"""Generates from the .proto files, in one step: the Python stubs (beside the .proto files), the
descriptor set Envoy transcodes with, and the JSON API's OpenAPI document and request collection.

    python protos/generate.py          # write the generated files
    python protos/generate.py --check  # exit 1 if any committed file differs from a fresh run

One step makes them all, so the gateway and the docs never describe another API than the stubs.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

from body_rules import build_lua
from openapi import API_FILES, build_collection, build_openapi, dumps

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
DESCRIPTOR_SET = REPO_ROOT / "gateway" / "recordstore.pb"
OPENAPI = REPO_ROOT / "docs" / "openapi.json"
COLLECTION = REPO_ROOT / "docs" / "insomnia.json"
# The tables of the gateway's JSON body check (the messages and routes gateway/body_check.lua
# checks against). Named after the descriptor set, so that its path follows the set's wherever a
# config places it (envoy.yaml loads "${DESCRIPTOR_PATH}.lua", then body_check.lua beside it).
BODY_CHECK = REPO_ROOT / "gateway" / "recordstore.pb.lua"
# The Google protos ours import (google/api, google/rpc, google/type), vendored from
# googleapis-common-protos so that buf and other languages find them here too; a test keeps
# them equal to the installed package's.
GOOGLEAPIS_ROOT = PROTO_ROOT / "third_party"
WELL_KNOWN_ROOT = Path(grpc_tools.__file__).resolve().parent / "_proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# Envoy must resolve the error details the services attach (google.rpc.ErrorInfo, BadRequest,
# ResourceInfo) to print them as JSON; without them it passes the gRPC error through unconverted.
GATEWAY_EXTRA_PROTOS = ["google/rpc/error_details.proto", "google/rpc/status.proto"]


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("recordstore/**/*.proto"))


def protoc_run(*args: str) -> None:
    include = [f"--proto_path={PROTO_ROOT}", f"--proto_path={GOOGLEAPIS_ROOT}", f"--proto_path={WELL_KNOWN_ROOT}"]
    if protoc.main(["grpc_tools.protoc", *include, *args]) != 0:
        raise SystemExit("protoc failed")


def generate(out_dir: Path, descriptor_set: Path) -> None:
    sources = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    protoc_run(f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *sources)
    protoc_run("--include_imports", "--include_source_info", f"--descriptor_set_out={descriptor_set}",
               *sources, *GATEWAY_EXTRA_PROTOS)


def write_docs(descriptor_set: Path, openapi_path: Path, collection_path: Path, body_check_path: Path) -> None:
    body_check_path.write_text(build_lua(descriptor_set.read_bytes(), API_FILES))
    openapi = build_openapi(descriptor_set.read_bytes())
    openapi_path.write_text(dumps(openapi))
    collection_path.write_text(dumps(build_collection(openapi)))


def generated_files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for suffix in GENERATED_SUFFIXES
        for p in root.glob(f"recordstore/**/*{suffix}")
    }


def stale_files() -> list[str]:
    """Names every generated file that a fresh run would write differently (or not at all)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        fresh_descriptor = fresh_root / "recordstore.pb"
        generate(fresh_root, fresh_descriptor)
        write_docs(fresh_descriptor, fresh_root / OPENAPI.name, fresh_root / COLLECTION.name,
                   fresh_root / BODY_CHECK.name)
        stale = []
        fresh, committed = generated_files(fresh_root), generated_files(PROTO_ROOT)
        for rel in sorted(fresh | committed):
            a, b = fresh_root / rel, PROTO_ROOT / rel
            if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
                stale.append(str(Path("protos") / rel))
        if not (DESCRIPTOR_SET.exists() and filecmp.cmp(fresh_descriptor, DESCRIPTOR_SET, shallow=False)):
            stale.append(str(DESCRIPTOR_SET.relative_to(REPO_ROOT)))
        for committed_doc in (OPENAPI, COLLECTION, BODY_CHECK):
            if not (committed_doc.exists() and filecmp.cmp(fresh_root / committed_doc.name, committed_doc, shallow=False)):
                stale.append(str(committed_doc.relative_to(REPO_ROOT)))
        return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if generated files are out of date")
    if parser.parse_args().check:
        stale = stale_files()
        for name in stale:
            print(f"out of date: {name}", file=sys.stderr)
        if stale:
            print("run: python protos/generate.py", file=sys.stderr)
        return 1 if stale else 0
    DESCRIPTOR_SET.parent.mkdir(exist_ok=True)
    OPENAPI.parent.mkdir(exist_ok=True)
    generate(PROTO_ROOT, DESCRIPTOR_SET)
    write_docs(DESCRIPTOR_SET, OPENAPI, COLLECTION, BODY_CHECK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
