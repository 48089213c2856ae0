import threading
import uuid

import grpc
import pytest
from recordstore.catalog.v1 import catalog_pb2 as pb

from tests.support import brl, create_disc, every_page, raises_status, stock_of, unique

Reservation = pb.Reservation


def list_all(stack, **filters):
    return every_page(stack.catalog.ListDiscs, pb.ListDiscsRequest, "discs", **filters)


def reserve(stack, disc_id, quantity, reservation_id=None):
    return stack.catalog_as_orders.ReserveStock(pb.ReserveStockRequest(
        reservation_id=reservation_id or str(uuid.uuid4()), disc_id=disc_id, quantity=quantity))


def test_create_and_get_a_disc(stack):
    disc = create_disc(stack, title="Clube da Esquina", genre="MPB", release_year=1972, price=brl(79, 90), stock=4)
    assert uuid.UUID(disc.id)
    assert (disc.title, disc.genre, disc.release_year, disc.stock) == ("Clube da Esquina", "MPB", 1972, 4)
    assert (disc.price.currency_code, disc.price.units, disc.price.nanos) == ("BRL", 79, 900_000_000)
    assert stack.catalog.GetDisc(pb.GetDiscRequest(id=disc.id)) == disc


def test_a_disc_with_no_stock_shows_stock_zero(stack):
    assert create_disc(stack, stock=0).stock == 0


@pytest.mark.parametrize("fields, field", [
    ({"title": ""}, "disc.title"),
    ({"artist": " "}, "disc.artist"),
    ({"genre": ""}, "disc.genre"),
    ({"release_year": 72}, "disc.release_year"),
    ({"stock": -1}, "disc.stock"),
    ({"price": pb.Disc().price.__class__(currency_code="BRL", units=1, nanos=5)}, "disc.price.nanos"),
    ({"price": brl(-1)}, "disc.price"),
    ({"price": pb.Disc().price.__class__(currency_code="real", units=1)}, "disc.price.currency_code"),
])
def test_create_names_the_invalid_field(stack, fields, field):
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        create_disc(stack, **fields)


def test_a_price_is_required(stack):
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="disc.price"):
        stack.catalog.CreateDisc(pb.CreateDiscRequest(disc=pb.Disc(
            title="T", artist="A", genre="G", release_year=2000, stock=1)))


def test_a_repeated_request_id_returns_the_first_disc(stack):
    request = pb.CreateDiscRequest(disc=pb.Disc(title="Tropicália", artist=unique("Vários"), genre="MPB",
                                                release_year=1968, price=brl(40), stock=2),
                                   request_id=str(uuid.uuid4()))
    assert stack.catalog.CreateDisc(request) == stack.catalog.CreateDisc(request)
    assert len(list_all(stack, artist=request.disc.artist)) == 1


def test_get_unknown_disc_is_not_found(stack):
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="DISC_NOT_FOUND"):
        stack.catalog.GetDisc(pb.GetDiscRequest(id=str(uuid.uuid4())))
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="id"):
        stack.catalog.GetDisc(pb.GetDiscRequest(id=""))


@pytest.fixture
def shelf(stack):
    """Five discs of one made-up artist family, so filters see only this test's discs."""
    family = unique("Caetano")
    discs = {
        "transa": create_disc(stack, artist=f"{family} Veloso", title="Transa", genre="MPB", release_year=1972),
        "bicho": create_disc(stack, artist=f"{family} Veloso", title="Bicho", genre="mpb", release_year=1977),
        "cores": create_disc(stack, artist=f"{family} Veloso", title="Cores, Nomes", genre="Rock", release_year=1982),
        "gal": create_disc(stack, artist=f"Gal {family}", title="Fa-Tal", genre="MPB", release_year=1971),
        "percent": create_disc(stack, artist=f"{family} 100% Band", title="Under_score", genre="Jazz",
                               release_year=1972),
    }
    return family, discs


def ids(discs):
    return [d.id for d in discs]


def test_artist_and_title_match_partially_ignoring_case(stack, shelf):
    family, discs = shelf
    assert set(ids(list_all(stack, artist=family.upper()))) == set(ids(discs.values()))
    assert ids(list_all(stack, artist=f"{family} veloso")) == ids([discs["transa"], discs["bicho"], discs["cores"]])
    assert ids(list_all(stack, artist=family, title="ANS")) == [discs["transa"].id]


def test_case_is_ignored_beyond_ascii(stack):
    family = unique("Conceição")
    disc = create_disc(stack, artist=f"João {family}", title="Águas de Março", genre="Música Popular")
    assert ids(list_all(stack, artist=f"JOÃO {family.upper()}")) == [disc.id]
    assert ids(list_all(stack, artist=family, title="águas de marÇo")) == [disc.id]
    assert ids(list_all(stack, artist=family, genre="MÚSICA POPULAR")) == [disc.id]


def test_genre_matches_whole_ignoring_case_and_year_exactly(stack, shelf):
    family, discs = shelf
    assert ids(list_all(stack, artist=family, genre="MPB")) == ids([discs["transa"], discs["bicho"], discs["gal"]])
    assert ids(list_all(stack, artist=family, genre="MP")) == []
    assert ids(list_all(stack, artist=family, release_year=1972)) == ids([discs["transa"], discs["percent"]])


def test_all_filters_combine(stack, shelf):
    family, discs = shelf
    found = list_all(stack, artist=family, title="t", genre="mpb", release_year=1972)
    assert ids(found) == [discs["transa"].id]


def test_wildcards_in_a_filter_are_taken_literally(stack, shelf):
    family, discs = shelf
    assert ids(list_all(stack, artist=f"{family} 100%")) == [discs["percent"].id]
    assert ids(list_all(stack, artist=family, title="Fa_Tal")) == []  # "_" as a wildcard would match Fa-Tal
    assert ids(list_all(stack, artist=family, title="r_s")) == [discs["percent"].id]


def test_pagination_reaches_the_last_page_in_a_stable_order(stack, shelf):
    family, discs = shelf
    pages = []
    token = ""
    while True:
        page = stack.catalog.ListDiscs(pb.ListDiscsRequest(artist=family, page_size=2, page_token=token))
        pages.append(ids(page.discs))
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == ids(discs.values())
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        first = stack.catalog.ListDiscs(pb.ListDiscsRequest(artist=family, page_size=2))
        stack.catalog.ListDiscs(pb.ListDiscsRequest(artist=family, genre="MPB", page_token=first.next_page_token))


def test_restock_adds_units(stack):
    disc = create_disc(stack, stock=1)
    restocked = stack.catalog.RestockDisc(pb.RestockDiscRequest(id=disc.id, quantity=5))
    assert restocked.stock == 6
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="quantity"):
        stack.catalog.RestockDisc(pb.RestockDiscRequest(id=disc.id, quantity=0))
    with raises_status(grpc.StatusCode.NOT_FOUND):
        stack.catalog.RestockDisc(pb.RestockDiscRequest(id=str(uuid.uuid4()), quantity=1))


def test_reserve_takes_stock_or_rejects_without_touching_it(stack):
    disc = create_disc(stack, stock=3, price=brl(10, 50))
    granted = reserve(stack, disc.id, 2)
    assert granted.state == Reservation.GRANTED
    assert (granted.unit_price.units, granted.unit_price.nanos) == (10, 500_000_000)
    assert stock_of(stack, disc.id) == 1
    rejected = reserve(stack, disc.id, 2)
    assert rejected.state == Reservation.REJECTED
    assert stock_of(stack, disc.id) == 1


def test_reserve_is_idempotent_on_its_id(stack):
    disc = create_disc(stack, stock=5)
    reservation_id = str(uuid.uuid4())
    first = reserve(stack, disc.id, 2, reservation_id)
    assert reserve(stack, disc.id, 2, reservation_id) == first
    assert stock_of(stack, disc.id) == 3
    with raises_status(grpc.StatusCode.ALREADY_EXISTS, reason="RESERVATION_ID_REUSED"):
        reserve(stack, disc.id, 3, reservation_id)


def test_a_rejected_reservation_stays_rejected_after_a_restock(stack):
    disc = create_disc(stack, stock=0)
    reservation_id = str(uuid.uuid4())
    assert reserve(stack, disc.id, 1, reservation_id).state == Reservation.REJECTED
    stack.catalog.RestockDisc(pb.RestockDiscRequest(id=disc.id, quantity=3))
    assert reserve(stack, disc.id, 1, reservation_id).state == Reservation.REJECTED
    assert stock_of(stack, disc.id) == 3


def test_concurrent_duplicates_take_stock_once(stack):
    disc = create_disc(stack, stock=10)
    reservation_id = str(uuid.uuid4())
    results = []
    barrier = threading.Barrier(10)

    def call():
        barrier.wait()
        results.append(reserve(stack, disc.id, 3, reservation_id))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10 and all(r == results[0] for r in results)
    assert results[0].state == Reservation.GRANTED
    assert stock_of(stack, disc.id) == 7


def test_reserve_errors(stack):
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="DISC_NOT_FOUND"):
        reserve(stack, str(uuid.uuid4()), 1)
    disc = create_disc(stack)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="quantity"):
        reserve(stack, disc.id, 0)
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="reservation_id"):
        stack.catalog_as_orders.ReserveStock(pb.ReserveStockRequest(disc_id=disc.id, quantity=1))


def test_release_gives_units_back_exactly_once(stack):
    disc = create_disc(stack, stock=4)
    granted = reserve(stack, disc.id, 3)
    released = stack.catalog_as_orders.ReleaseStock(pb.ReleaseStockRequest(reservation_id=granted.id))
    assert released.state == Reservation.RELEASED and released.HasField("release_time")
    assert stock_of(stack, disc.id) == 4
    assert stack.catalog_as_orders.ReleaseStock(pb.ReleaseStockRequest(reservation_id=granted.id)) == released
    assert stock_of(stack, disc.id) == 4


def test_releasing_a_rejected_reservation_changes_nothing(stack):
    disc = create_disc(stack, stock=1)
    rejected = reserve(stack, disc.id, 2)
    assert stack.catalog_as_orders.ReleaseStock(pb.ReleaseStockRequest(reservation_id=rejected.id)).state == Reservation.REJECTED
    assert stock_of(stack, disc.id) == 1
    with raises_status(grpc.StatusCode.NOT_FOUND, reason="RESERVATION_NOT_FOUND"):
        stack.catalog_as_orders.ReleaseStock(pb.ReleaseStockRequest(reservation_id=str(uuid.uuid4())))


@pytest.mark.parametrize("year", [-(2**31), -1, 999, 10_000, 2**31 - 1])
def test_a_release_year_filter_outside_four_digits_names_the_field(stack, year):
    with raises_status(grpc.StatusCode.INVALID_ARGUMENT, field="release_year"):
        stack.catalog.ListDiscs(pb.ListDiscsRequest(release_year=year))
