"""The JSON gateway: one real Envoy per session in front of the in-process services."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from devstack.gateway import CorsSettings, start_gateway
from devstack.loopback import free_address, free_port
from devstack.processes import stop


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


class JsonClient:
    """A plain HTTP/1.1 JSON client, as a browser or curl would talk to the gateway."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body=None, query: dict | None = None, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 10) -> Reply:
        if query:
            path = f"{path}?{urlencode(query)}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=payload,
                         headers={"content-type": "application/json", **(headers or {})})
            answer = conn.getresponse()
            return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode())
        finally:
            conn.close()

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def post(self, path, body=None, **query):
        return self.request("POST", path, body=body if body is not None else {}, query=query or None)


def launch(upstreams: dict[str, str], tmp_path_factory, cors: CorsSettings = CorsSettings()):
    logs = tmp_path_factory.mktemp("envoy") / "envoy.log"
    return start_gateway(free_address(), free_port(), upstreams, log_path=logs, cors=cors)


@pytest.fixture(scope="session")
def gateway(stack, tmp_path_factory):
    running = launch(stack.addresses, tmp_path_factory)
    yield running
    stop([running.process])


@pytest.fixture(scope="session")
def api(gateway) -> JsonClient:
    return JsonClient(int(gateway.url.rsplit(":", 1)[1]))
