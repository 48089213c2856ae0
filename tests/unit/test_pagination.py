import pytest

from services.runtime.errors import InvalidArgument
from services.runtime.pagination import (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, cut_page, decode_token, encode_token,
                                         page_size)


def test_page_size_defaults_coerces_and_refuses_negatives():
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as caught:
        page_size(-1)
    assert caught.value.field == "page_size"


def test_a_token_round_trips_with_the_same_filters():
    filters = {"artist": "Gal", "release_year": 1971}
    token = encode_token(["01a2", 3], filters)
    assert decode_token(token, dict(reversed(filters.items()))) == ["01a2", 3]
    assert decode_token("", filters) is None


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "eyJrIjogMX0"])
def test_foreign_tokens_are_invalid(token):
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, {})
    assert caught.value.field == "page_token"


def test_a_token_does_not_continue_another_listing():
    token = encode_token(["x"], {"genre": "Rock"})
    with pytest.raises(InvalidArgument):
        decode_token(token, {"genre": "Jazz"})


def test_cut_page_keeps_page_size_rows_and_points_after_the_last():
    rows = [{"id": i} for i in range(4)]
    page, token = cut_page(rows, 3, {"f": 1}, lambda row: [row["id"]])
    assert page == rows[:3] and decode_token(token, {"f": 1}) == [2]
    assert cut_page(rows[:3], 3, {}, lambda row: [row["id"]]) == (rows[:3], "")
