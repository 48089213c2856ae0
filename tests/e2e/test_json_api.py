"""The record store as a JSON client sees it, through the real Envoy."""

import time
import uuid
from datetime import datetime, timedelta, timezone

from tests.support import unique


def new_customer(api, **fields):
    reply = api.post("/v1/customers", {"name": "Ana Souza", "email": f"{unique('ana')}@example.com", **fields})
    assert reply.status == 200, reply.text
    return reply.json


def new_disc(api, **fields):
    body = {"title": "Acabou Chorare", "artist": unique("Novos Baianos"), "genre": "MPB", "release_year": 1972,
            "price": {"currency_code": "BRL", "units": 59, "nanos": 900_000_000}, "stock": 3, **fields}
    reply = api.post("/v1/discs", body)
    assert reply.status == 200, reply.text
    return reply.json


def purchase(api, customer_id, disc_id, quantity, **query):
    return api.post("/v1/purchases", {"customer_id": customer_id, "disc_id": disc_id, "quantity": quantity}, **query)


def test_the_seed_scenario_in_json(api):
    customer = new_customer(api)
    disc = new_disc(api, stock=3)

    within = purchase(api, customer["id"], disc["id"], 2)
    assert within.status == 200 and within.headers["content-type"] == "application/json"
    body = within.json
    assert body["effective"] is True and body["state"] == "CONFIRMED"
    assert body["total_price"] == {"currency_code": "BRL", "units": "119", "nanos": 800_000_000}
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 1

    beyond = purchase(api, customer["id"], disc["id"], 2).json
    assert beyond["effective"] is False and beyond["state"] == "REJECTED"
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 1
    assert api.get(f"/v1/purchases/{beyond['id']}").json == beyond


def test_zero_values_enums_and_timestamps_are_printed(api):
    disc = new_disc(api, stock=0, price={"currency_code": "BRL", "units": 0, "nanos": 0})
    assert disc["stock"] == 0
    assert disc["price"] == {"currency_code": "BRL", "units": "0", "nanos": 0}
    customer = new_customer(api)
    assert customer["state"] == "ACTIVE" and customer["document"] == ""
    created = datetime.fromisoformat(customer["create_time"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60


def test_a_request_id_makes_a_json_retry_safe(api):
    customer, disc = new_customer(api), new_disc(api, stock=5)
    request_id = str(uuid.uuid4())
    first = purchase(api, customer["id"], disc["id"], 2, request_id=request_id).json
    again = purchase(api, customer["id"], disc["id"], 2, request_id=request_id).json
    assert again == first and first["request_id"] == request_id
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 3


def list_all(api, path, key, **query):
    found, token = [], ""
    while True:
        reply = api.get(path, **query, **({"page_token": token} if token else {}))
        assert reply.status == 200, reply.text
        found.extend(reply.json[key])
        token = reply.json["next_page_token"]
        if not token:
            return found


def test_every_disc_filter_as_query_parameters(api):
    family = unique("Gilberto")
    made = [
        new_disc(api, artist=f"João {family}", title="Chega de Saudade", genre="Bossa Nova", release_year=1959),
        new_disc(api, artist=f"João {family}", title="O Amor, o Sorriso e a Flor", genre="Bossa Nova",
                 release_year=1960),
        new_disc(api, artist=f"Bebel {family}", title="Tanto Tempo", genre="MPB", release_year=2000),
    ]
    ids = [d["id"] for d in made]

    def found(**query):
        return [d["id"] for d in list_all(api, "/v1/discs", "discs", **query)]

    assert found(artist=family.lower()) == ids
    assert found(artist=f"joão {family}") == ids[:2]
    assert found(artist=family, title="saudade") == ids[:1]
    assert found(artist=family, genre="bossa nova") == ids[:2]
    assert found(artist=family, release_year=2000) == ids[2:]
    assert found(artist=family, genre="Bossa Nova", release_year=1960, title="amor") == ids[1:2]


def test_paging_to_the_last_page(api):
    family = unique("Tom Jobim")
    ids = [new_disc(api, artist=family, title=f"Vol. {i}")["id"] for i in range(5)]
    pages, token = [], ""
    while True:
        reply = api.get("/v1/discs", artist=family, page_size=2, **({"page_token": token} if token else {}))
        pages.append([d["id"] for d in reply.json["discs"]])
        token = reply.json["next_page_token"]
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]


def test_purchases_by_customer_and_period(api):
    customer, disc = new_customer(api), new_disc(api, stock=10)
    made = []
    for _ in range(3):
        made.append(purchase(api, customer["id"], disc["id"], 1).json)
        time.sleep(0.01)
    newest_first = [p["id"] for p in reversed(made)]
    assert [p["id"] for p in list_all(api, "/v1/purchases", "purchases", customer_id=customer["id"])] == newest_first
    start = made[1]["create_time"]
    end = (datetime.fromisoformat(made[2]["create_time"].replace("Z", "+00:00"))
           + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    window = list_all(api, "/v1/purchases", "purchases", customer_id=customer["id"], start_time=start, end_time=end)
    assert [p["id"] for p in window] == newest_first[:2]


def test_deactivation_and_the_listing_of_deactivated_customers(api):
    customer = new_customer(api)
    reply = api.post(f"/v1/customers/{customer['id']}:deactivate")
    assert reply.status == 200 and reply.json["state"] == "DEACTIVATED" and reply.json["deactivate_time"]
    assert api.post(f"/v1/customers/{customer['id']}:deactivate").json == reply.json
    hidden = [c["id"] for c in list_all(api, "/v1/customers", "customers", page_size=1000)]
    shown = [c["id"] for c in list_all(api, "/v1/customers", "customers", page_size=1000, show_deactivated="true")]
    assert customer["id"] not in hidden and customer["id"] in shown
    refused = purchase(api, customer["id"], new_disc(api)["id"], 1)
    assert refused.status == 400 and refused.json["code"] == 9
    assert refused.json["details"][0]["reason"] == "CUSTOMER_DEACTIVATED"


def test_cancel_and_restock(api):
    customer, disc = new_customer(api), new_disc(api, stock=2)
    bought = purchase(api, customer["id"], disc["id"], 2).json
    cancelled = api.post(f"/v1/purchases/{bought['id']}:cancel")
    assert cancelled.status == 200 and cancelled.json["state"] == "CANCELLED"
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 2
    restocked = api.post(f"/v1/discs/{disc['id']}:restock", {"quantity": 3})
    assert restocked.status == 200 and restocked.json["stock"] == 5


def test_a_sale_at_the_counter_in_json(api, stack):
    """The staff records a purchase for a customer: the customer's, naming who recorded it."""
    customer, disc = new_customer(api), new_disc(api, stock=3)
    clerk = f"Bearer {stack.issuer.staff_token('clerk-json')}"
    body = {"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 2}
    key = {"idempotency-key": unique("till-7")}
    sold = api.request("POST", "/v1/purchases", body, authorization=clerk, headers=key)
    assert sold.status == 200, sold.text
    assert (sold.json["state"], sold.json["recorded_by"]) == ("CONFIRMED", "clerk-json")
    # The clerk's retry is the same sale; the customer's own use of the same key is its own purchase.
    assert api.request("POST", "/v1/purchases", body, authorization=clerk, headers=key).json == sold.json
    own = api.request("POST", "/v1/purchases", {**body, "quantity": 1}, headers=key)
    assert own.status == 200 and own.json["id"] != sold.json["id"]
    assert own.json["recorded_by"] == api.get(f"/v1/customers/{customer['id']}").json["subject"]
    # The customer sees both among its own.
    mine = api.request("GET", "/v1/purchases", authorization=f"Bearer {api.tokens[customer['id']]}")
    assert {p["id"] for p in mine.json["purchases"]} == {sold.json["id"], own.json["id"]}
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 0


def test_a_customer_buys_as_itself_only_in_json(api):
    ana, bia, disc = new_customer(api), new_customer(api), new_disc(api, stock=3)
    as_bia = f"Bearer {api.tokens[bia['id']]}"
    refused = api.request("POST", "/v1/purchases", {"customer_id": ana["id"], "disc_id": disc["id"], "quantity": 1},
                          authorization=as_bia)
    assert refused.status == 404 and refused.json["details"][0]["reason"] == "CUSTOMER_NOT_FOUND"
    assert api.get(f"/v1/discs/{disc['id']}").json["stock"] == 3
