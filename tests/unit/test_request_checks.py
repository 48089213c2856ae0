import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from recordstore.catalog.v1 import catalog_pb2
from recordstore.customers.v1 import customers_pb2
from recordstore.orders.v1 import orders_pb2

from services.runtime.errors import InvalidArgument
from services.runtime.request_checks import decode, nul_field


def rejected(message_class, raw: bytes) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as refused:
        decode(message_class, raw)
    return refused.value.field, refused.value.reason


def test_a_clean_request_comes_back_as_its_message():
    request = orders_pb2.ListPurchasesRequest(customer_id="c", start_time=timestamp_pb2.Timestamp())
    raw = request.SerializeToString()
    assert b"\x00" in raw  # the empty Timestamp: a 0 byte that is no NUL
    assert decode(orders_pb2.ListPurchasesRequest, raw) == request


def test_a_nul_is_named_by_its_path():
    request = catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(title="ok", artist="a\x00"))
    assert rejected(catalog_pb2.CreateDiscRequest, request.SerializeToString()) == ("disc.artist", "NUL_CHARACTER")


def test_repeated_and_map_fields_are_walked_too():
    assert nul_field(field_mask_pb2.FieldMask(paths=["a", "b\x00"])) == "paths[1]"
    value = struct_pb2.Struct()
    value.update({"fine": "yes", "k": {"inner": "x\x00"}})
    assert nul_field(value) == "fields[k].struct_value.fields[inner].string_value"
    assert nul_field(struct_pb2.Struct(fields={"a\x00": struct_pb2.Value(number_value=1)})) == "fields[a\x00]"
    assert nul_field(value.__class__(fields={"fine": struct_pb2.Value(string_value="yes")})) is None


def test_invalid_utf8_is_named_even_nested():
    raw = catalog_pb2.CreateDiscRequest(disc=catalog_pb2.Disc(title="t", genre="@@@", release_year=1972),
                                        request_id="r").SerializeToString().replace(b"@@@", b"\xed\xa0\x80")
    assert rejected(catalog_pb2.CreateDiscRequest, raw) == ("disc.genre", "INVALID_UTF8")  # a lone surrogate


def test_invalid_utf8_in_a_repeated_field_is_named_with_its_index():
    lookups = [customers_pb2.CustomerLookup(id="a", bearer_token="t"),
               customers_pb2.CustomerLookup(id="@@", bearer_token="t")]
    raw = customers_pb2.BatchGetCustomersRequest(lookups=lookups).SerializeToString().replace(b"@@", b"\xff\xfe")
    assert rejected(customers_pb2.BatchGetCustomersRequest, raw) == ("lookups[1].id", "INVALID_UTF8")
    raw = field_mask_pb2.FieldMask(paths=["a", "b", "@@"]).SerializeToString().replace(b"@@", b"\xc0\x80")
    assert rejected(field_mask_pb2.FieldMask, raw) == ("paths[2]", "INVALID_UTF8")


def test_bytes_that_are_no_message_are_named_as_the_request():
    raw = catalog_pb2.ListDiscsRequest(artist="Gal Costa").SerializeToString()
    for cut in (raw[:-3], raw[:1], b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"):
        assert rejected(catalog_pb2.ListDiscsRequest, cut) == ("request", "MALFORMED_REQUEST")


def test_a_malformed_request_is_refused_in_our_words_not_protobufs():
    with pytest.raises(InvalidArgument) as refused:
        decode(catalog_pb2.GetDiscRequest, b"\x0a\x05ab")  # a string of 5 bytes with 2 sent
    assert refused.value.message == "request: is not a GetDiscRequest in the protobuf wire format"
