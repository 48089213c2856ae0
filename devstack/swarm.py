"""python -m devstack.swarm [docker-compose.yml]: the compose file as `docker stack deploy` takes it.

docker-compose.yml serves both `docker compose up` and Docker Swarm: its `deploy:` sections
(replicas, updates, restarts, resources, dnsrr) are Swarm's. But Swarm's loader refuses
`depends_on` with conditions ("services.<name>.depends_on must be a list", docker 28), which
compose needs to start the credentials init step first and each service after what it needs,
and it ignores `build` and `restart`. This prints the same file without them and without the
init step, which runs once beforehand (docs/deploy.md, "Docker Swarm"):

    docker compose -p recordstore build
    docker compose -p recordstore run --rm credentials
    export PAGE_TOKEN_SECRET=$(openssl rand -hex 32)   # keep it: every deploy needs the same
    .venv/bin/python -m devstack.swarm | docker stack deploy -c - recordstore

Swarm has no profiles either: services of a compose profile (`observability`) are left out; run
those with compose beside the stack, or deploy them as a stack of their own.

Swarm has no start order: a service that starts before PostgreSQL answers waits for it (the
services retry their first connection), and one that exits is restarted (restart_policy).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

from .processes import REPO_ROOT

INIT_STEP = "credentials"
NOT_FOR_SWARM = ("depends_on", "build", "restart")  # refused, or ignored with a warning


# Replicas by default under Swarm; they must all sign page tokens with one key (a token made by
# one replica is read by another), so the deploy stops without it rather than run with one each.
SWARM_REPLICAS = "${SERVICE_REPLICAS:-2}"
SHARED_SECRET = "${PAGE_TOKEN_SECRET:?set PAGE_TOKEN_SECRET (32+ bytes): every replica signs page tokens with it}"


def stack_of(compose: dict) -> dict:
    stack = copy.deepcopy(compose)
    stack["services"].pop(INIT_STEP)
    for name in [name for name, service in stack["services"].items() if "profiles" in service]:
        stack["services"].pop(name)
    for service in stack["services"].values():
        for key in NOT_FOR_SWARM:
            service.pop(key, None)
        if str(service.get("deploy", {}).get("replicas", "")).startswith("${SERVICE_REPLICAS"):
            service["deploy"]["replicas"] = SWARM_REPLICAS
        if "PAGE_TOKEN_SECRET" in service.get("environment", {}):
            service["environment"]["PAGE_TOKEN_SECRET"] = SHARED_SECRET
    # The anchors' own blocks were merged into the services by the loader: not needed twice.
    return {key: value for key, value in stack.items() if not key.startswith("x-")}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else REPO_ROOT / "docker-compose.yml"
    sys.stdout.write(yaml.safe_dump(stack_of(yaml.safe_load(path.read_text())), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
