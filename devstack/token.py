"""python -m devstack token: a bearer token of the local stack's issuer, for development.

    .venv/bin/python -m devstack token --staff
    .venv/bin/python -m devstack token --customer ana --ttl 600
    curl -H "Authorization: Bearer $(.venv/bin/python -m devstack token --customer ana)" ...

A customer token names a subject (the user's id at the identity provider, any string here):
signing up with it (POST /v1/customers) creates the customer bound to that subject, and the same
subject's tokens act as that customer from then on.

The token is signed with the key of the stack on --data-dir (the same --data-dir given to
scripts/run, default .data/postgres), which that stack made beside its data directory, in
<parent>/auth/signing-key.pem (.data/auth by default). Only that stack accepts it; a data
directory whose stack never ran has no key, and the command refuses it rather than make one that
nothing trusts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.runtime.auth import subject_problem

from .credentials import DEFAULT_TTL_SECONDS, issuer_in
from .processes import REPO_ROOT


def refuse_subject(parser: argparse.ArgumentParser, subject: str) -> None:
    """A token whose subject the gateway and the services would refuse is not minted (the rule:
    services.runtime.auth.SUBJECT_PATTERN)."""
    problem = subject_problem(subject)
    if problem:
        parser.error(f"the subject {subject!r} {problem}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack token", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--staff", nargs="?", const="staff", metavar="SUBJECT",
                     help="a staff member's token (subject: staff unless given)")
    who.add_argument("--customer", metavar="SUBJECT", help="a customer's token for this subject")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS,
                        help=f"seconds until it expires (default {DEFAULT_TTL_SECONDS})")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres",
                        help="the --data-dir given to scripts/run (default: .data/postgres); its stack's "
                             "signing key is beside it, in <parent>/auth")
    args = parser.parse_args(argv)
    if args.ttl <= 0:
        parser.error("--ttl must be a positive number of seconds")
    refuse_subject(parser, args.staff if args.staff else args.customer)
    issuer = issuer_in(args.data_dir)
    if not issuer.key_path.is_file() or not issuer.jwks_path.is_file():
        # A key made here would sign tokens no service trusts (401 "Jwks doesn't have key to match kid").
        parser.error(f"no stack's signing key in {issuer.directory}: --data-dir {args.data_dir} is not the data "
                     "directory of a stack that has run; start scripts/run with it first (or give the --data-dir "
                     "your scripts/run was given)")
    token = issuer.staff_token(args.staff, args.ttl) if args.staff else issuer.customer_token(args.customer, args.ttl)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
