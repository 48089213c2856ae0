"""The change feeds as a JSON client sees them through the real Envoy: newline-delimited JSON, one
event a line, for as long as the client stays; who may read; cursors refused in the API's words."""

from __future__ import annotations

import dataclasses
import http.client
import json
import shutil
import subprocess

import pytest
import yaml

from devstack.processes import stop
from services.customers import app as customers_app
from services.runtime.feed import FeedSettings
from services.runtime.server import start
from tests.e2e.conftest import launch
from tests.e2e.test_json_api import new_customer, new_disc, purchase
from tests.integration.test_feed import end_of
from tests.integration.test_feed_docs import code_block
from tests.support import REPO_ROOT, buy, common_settings, create_customer, create_disc

FEEDS = {"/v1/purchaseEvents": "orders", "/v1/discEvents": "catalog", "/v1/customerEvents": "customers"}


class Stream:
    """GET of a feed's path, read a line at a time as the lines come."""

    def __init__(self, port: int, path: str, token: str, timeout: float = 20):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers={"authorization": f"Bearer {token}"})
        self.reply = self.conn.getresponse()

    def lines(self):
        while True:
            line = self.reply.readline()
            if not line:
                return
            yield json.loads(line)

    def close(self) -> None:
        self.conn.close()


def port_of(gateway) -> int:
    return int(gateway.url.rsplit(":", 1)[1])


def test_a_feed_streams_one_json_event_a_line(api, gateway, stack):
    customer, disc = new_customer(api), new_disc(api, stock=2)
    bought = purchase(api, customer["id"], disc["id"], 2).json
    stream = Stream(port_of(gateway), "/v1/purchaseEvents?after_cursor=0", stack.staff_token)
    try:
        assert stream.reply.status == 200 and stream.reply.getheader("content-type") == "application/json"
        for event in stream.lines():
            if event["type"] != "HEARTBEAT" and event["purchase"]["id"] == bought["id"]:
                break
    finally:
        stream.close()
    assert event["type"] == "CONFIRMED" and event["purchase"] == bought
    assert int(event["cursor"]) > 0 and event["event_time"].endswith("Z")
    # Resumed after that cursor, the stream goes on with what followed it, here the cancellation.
    api.post(f"/v1/purchases/{bought['id']}:cancel")
    stream = Stream(port_of(gateway), f"/v1/purchaseEvents?after_cursor={event['cursor']}", stack.staff_token)
    try:
        following = next(e for e in stream.lines() if e["type"] != "HEARTBEAT" and e["purchase"]["id"] == bought["id"])
    finally:
        stream.close()
    assert following["type"] == "CANCELLED" and int(following["cursor"]) > int(event["cursor"])


@pytest.mark.parametrize("path", FEEDS)
def test_a_feed_takes_get_only_and_is_not_a_customers(api, path):
    refused = api.request("POST", path, {})
    assert refused.status == 405 and refused.headers["allow"] == "GET"
    shopper = new_customer(api)
    denied = api.request("GET", path, authorization=f"Bearer {api.tokens[shopper['id']]}")
    assert denied.status == 403 and denied.json["details"][0]["reason"] == "ROLE_REQUIRED"
    assert api.request("GET", path, authorization=None).status == 401


@pytest.mark.parametrize("cursor, reason", [("abc", "INVALID_FIELD"), ("12345678901234", "INVALID_CURSOR")])
def test_a_cursor_not_of_the_feed_is_400_naming_it(api, cursor, reason):
    refused = api.get("/v1/discEvents", after_cursor=cursor)
    assert refused.status == 400, refused.text
    assert refused.json["details"][0]["reason"] == reason
    assert refused.json["details"][1]["field_violations"][0]["field"] == "after_cursor"


def test_the_gateway_lets_a_feed_run_beyond_the_route_timeout(gateway):
    """The feeds' routes have no route timeout (every other route's 15 s would end each stream);
    their silence is bounded by the stream idle timeout, which the services' heartbeats beat."""
    config = yaml.safe_load(gateway.config_path.read_text())
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    watch = {r["match"]["path"]: r["route"] for r in routes if r["match"].get("path", "").endswith("Events")}
    assert sorted(watch) == ["/recordstore.catalog.v1.CatalogService/WatchDiscEvents",
                             "/recordstore.customers.v1.CustomerService/WatchCustomerEvents",
                             "/recordstore.orders.v1.OrderService/WatchPurchaseEvents", *sorted(FEEDS)]
    assert all(route["timeout"] == "0s" for route in watch.values())
    idle = float(manager["stream_idle_timeout"].rstrip("s"))
    assert FeedSettings().heartbeat_seconds < idle / 2


def test_a_stopping_service_ends_a_json_stream_and_the_client_resumes_from_its_cursor(
        stack, tmp_path_factory, api):
    """A customers service of its own behind a gateway of its own: stopped mid-stream, the
    stream's body ends (a JSON client cannot be told a status once the lines began); the client
    resumes from the last cursor it read, on the service started again."""
    settings = customers_app.Settings(dataclasses.replace(common_settings("customers"),
                                                          feed=FeedSettings(heartbeat_seconds=0.2)))
    running = stack.run(start(customers_app.APP, settings, stack.databases["customers"]))
    gateway = launch({**stack.addresses, "customers": f"127.0.0.1:{running.port}"}, tmp_path_factory, stack.issuer)
    try:
        made = new_customer(api)
        stream = Stream(port_of(gateway), "/v1/customerEvents?after_cursor=0", stack.staff_token)
        try:
            read = []
            for event in stream.lines():
                read.append(event)
                if event["type"] == "HEARTBEAT" and running.host.admission.open:  # caught up
                    stack.run(running.stop(grace=5))
            # The body ended: what was read stands, and nothing came after the stop.
        finally:
            stream.close()
        assert any(e["type"] == "CREATED" and e["customer"]["id"] == made["id"] for e in read)
        last = read[-1]["cursor"]
        running = stack.run(start(customers_app.APP, settings, stack.databases["customers"]))
        gateway_again = launch({**stack.addresses, "customers": f"127.0.0.1:{running.port}"}, tmp_path_factory,
                               stack.issuer)
        try:
            later = new_customer(api)
            stream = Stream(port_of(gateway_again), f"/v1/customerEvents?after_cursor={last}", stack.staff_token)
            try:
                resumed = next(e for e in stream.lines() if e["type"] == "CREATED")
            finally:
                stream.close()
            assert resumed["customer"]["id"] == later["id"]
        finally:
            stop([gateway_again.process])
    finally:
        stop([gateway.process])
        if running.host.admission.open:
            stack.run(running.stop(1))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_command_prints_one_event_a_line(stack, gateway, cluster):
    command = next(line for line in code_block("As JSON", "sh").splitlines() if line.startswith("curl "))
    customer, disc = create_customer(stack), create_disc(stack, stock=3)
    after = end_of(cluster, "orders")
    bought = buy(stack, customer.id, disc.id, 2)
    url = command.split('"')[-2].replace("localhost:8080", gateway.url.removeprefix("http://"))
    url = url.replace("after_cursor=0", f"after_cursor={after}")
    output = subprocess.run(["curl", *command.split()[1:3], f"Authorization: Bearer {stack.staff_token}",
                             "--max-time", "3", url], capture_output=True, text=True)
    assert output.returncode == 28  # the stream went on until curl's own limit ended it
    [event] = [json.loads(line) for line in output.stdout.splitlines()]
    assert (event["type"], event["purchase"]["id"], event["purchase"]["state"]) == ("CONFIRMED", bought.id,
                                                                                    "CONFIRMED")
