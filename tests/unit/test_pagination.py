import uuid
from datetime import datetime, timezone

import pytest

from recordstore.catalog.v1 import catalog_pb2

from services.runtime import pagination, rules
from services.runtime.config import ConfigError, ServerSettings, secret
from services.runtime.errors import InvalidArgument
from services.runtime.pagination import MAX_TOKEN_LENGTH, TIMESTAMP, UUID, cut_page, decode_token, encode_token
from tests.hostile import forged_token as forged

SECRET = b"s" * 32
PAGE_SIZE = rules.of(catalog_pb2.ListDiscsRequest, "page_size")  # every listing's (test_rules holds them alike)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = PAGE_SIZE.default_value, PAGE_SIZE.maximum
AN_ID = str(uuid.UUID(int=7))


def refused(token, filters=None, kinds=(UUID,), secret=SECRET) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, filters or {}, kinds, secret=secret)
    assert caught.value.field == "page_token" and caught.value.reason == "INVALID_PAGE_TOKEN"
    return caught.value


def page_size(requested: int) -> int:
    """A listing's page_size, as the services read it."""
    return rules.checked(catalog_pb2.ListDiscsRequest(page_size=requested))["page_size"]


def test_page_size_defaults_coerces_and_refuses_negatives():
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as caught:
        page_size(-1)
    assert caught.value.field == "page_size"


def test_a_token_round_trips_with_the_same_filters():
    filters = {"artist": "Gal", "release_year": 1971}
    token = encode_token([AN_ID], filters, secret=SECRET)
    assert decode_token(token, dict(reversed(filters.items())), [UUID], secret=SECRET) == [AN_ID]
    assert decode_token("", filters, [UUID], secret=SECRET) is None


def test_a_timestamp_key_comes_back_as_an_aware_datetime():
    moment = datetime(2026, 11, 27, 19, 38, 23, 230038, tzinfo=timezone.utc)
    token = encode_token([moment.isoformat(), AN_ID], {}, secret=SECRET)
    assert decode_token(token, {}, [TIMESTAMP, UUID], secret=SECRET) == [moment, AN_ID]


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "eyJrIjogMX0", "a.b", ".", "é" * 10,
                                   "x" * (MAX_TOKEN_LENGTH + 1)])
def test_foreign_tokens_are_invalid(token):
    refused(token)


def test_every_changed_character_is_refused():
    token = encode_token([AN_ID], {}, secret=SECRET)
    for i, char in enumerate(token):
        for other in {"A", "B", "_", "-", ".", chr(ord(char) ^ 1)} - {char}:
            refused(token[:i] + other + token[i + 1:])


def test_a_token_signed_with_another_secret_is_refused():
    refused(encode_token([AN_ID], {}, secret=b"t" * 32))


@pytest.mark.parametrize("key", [["x"], [1], [[1, 2]], [{"a": 1}], [None], [], [AN_ID, AN_ID], "x", {"a": 1}])
def test_a_forged_key_is_refused_with_or_without_the_secret(key):
    refused(forged(key, {}))
    refused(forged(key, {}, SECRET))  # a valid MAC does not make an odd key acceptable


@pytest.mark.parametrize("key", [["2026-11-27T19:38:23", AN_ID], ["yesterday", AN_ID], [AN_ID, AN_ID],
                                 ["2026-11-27T19:38:23+00:00", "x"], [1, AN_ID]])
def test_a_purchase_key_needs_an_aware_timestamp_and_a_uuid(key):
    refused(forged(key, {}, SECRET), kinds=(TIMESTAMP, UUID))


def test_a_token_does_not_continue_another_listing():
    token = encode_token([AN_ID], {"genre": "Rock"}, secret=SECRET)
    error = refused(token, {"genre": "Jazz"})
    assert "filters" in error.description


def test_cut_page_keeps_page_size_rows_and_points_after_the_last():
    rows = [{"id": str(uuid.UUID(int=i))} for i in range(4)]
    page, token = cut_page(rows, 3, {"f": 1}, lambda row: [row["id"]])
    assert page == rows[:3] and decode_token(token, {"f": 1}, [UUID]) == [rows[2]["id"]]
    assert cut_page(rows[:3], 3, {}, lambda row: [row["id"]]) == (rows[:3], "")


def test_the_secret_comes_from_the_environment_and_must_be_long_enough():
    assert secret("PAGE_TOKEN_SECRET", {}) is None
    assert secret("PAGE_TOKEN_SECRET", {"PAGE_TOKEN_SECRET": "k" * 32}) == b"k" * 32
    with pytest.raises(ConfigError) as caught:
        ServerSettings.from_env("127.0.0.1:1", {"DATABASE_URL": "postgresql://u@/db", "PAGE_TOKEN_SECRET": "short"})
    assert "PAGE_TOKEN_SECRET" in str(caught.value)


def test_the_secret_may_come_from_a_file_and_the_variable_comes_first(tmp_path):
    key = tmp_path / "page-token.key"
    key.write_text("f" * 64 + "\n")  # as the compose credentials step writes it
    assert secret("PAGE_TOKEN_SECRET", {"PAGE_TOKEN_SECRET_FILE": str(key)}) == b"f" * 64
    both = {"PAGE_TOKEN_SECRET": "k" * 32, "PAGE_TOKEN_SECRET_FILE": str(key)}
    assert secret("PAGE_TOKEN_SECRET", both) == b"k" * 32
    for wrong in (tmp_path / "missing", tmp_path):
        with pytest.raises(ConfigError) as caught:
            secret("PAGE_TOKEN_SECRET", {"PAGE_TOKEN_SECRET_FILE": str(wrong)})
        assert "PAGE_TOKEN_SECRET_FILE" in str(caught.value)
    key.write_text("short")
    with pytest.raises(ConfigError):
        secret("PAGE_TOKEN_SECRET", {"PAGE_TOKEN_SECRET_FILE": str(key)})


def test_without_a_secret_the_process_makes_one_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr(pagination, "_secret", pagination._secret)  # as it was, after the test
    pagination.sign_with(None)  # what runtime.server.start does without PAGE_TOKEN_SECRET
    token = encode_token([AN_ID], {})
    assert "PAGE_TOKEN_SECRET is not set" in caplog.text
    assert decode_token(token, {}, [UUID]) == [AN_ID]
    refused(token, secret=b"k" * 32)


def test_the_process_secret_is_the_configured_one(monkeypatch):
    monkeypatch.setattr(pagination, "_secret", pagination._secret)  # as it was, after the test
    settings = ServerSettings.from_env("127.0.0.1:1", {"DATABASE_URL": "postgresql://u@/db", "PAGE_TOKEN_SECRET": "k" * 32})
    pagination.sign_with(settings.page_token_secret)  # as runtime.server.start does
    assert decode_token(encode_token([AN_ID], {}), {}, [UUID], secret=b"k" * 32) == [AN_ID]
