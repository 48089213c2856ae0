"""The query-string tables of the gateway's check (protos/body_rules.py), on a proto of their own:
no request of ours has a repeated field, yet one that did must be allowed to repeat."""

import sys

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from tests.support import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "protos"))
from body_rules import build_lua  # noqa: E402

F = descriptor_pb2.FieldDescriptorProto


def tables_of_a_listing() -> str:
    descriptors = descriptor_pb2.FileDescriptorSet()
    file = descriptors.file.add(name="shop/v1/shop.proto", package="shop.v1", syntax="proto3")
    request = file.message_type.add(name="ListThingsRequest")
    request.field.add(name="tags", number=1, type=F.TYPE_STRING, label=F.LABEL_REPEATED, json_name="tags")
    request.field.add(name="page_size", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL, json_name="pageSize")
    request.field.add(name="since", number=3, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                      type_name=".google.protobuf.Timestamp", json_name="since")
    request.field.add(name="shop_id", number=4, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="shopId")
    file.message_type.add(name="ListThingsResponse")
    method = file.service.add(name="Shop").method.add(
        name="ListThings", input_type=".shop.v1.ListThingsRequest", output_type=".shop.v1.ListThingsResponse")
    method.options.Extensions[annotations_pb2.http].get = "/v1/shops/{shop_id}/things"
    return build_lua(descriptors.SerializeToString(), ("shop/v1/shop.proto",))


def test_a_repeated_field_is_marked_so_that_it_may_repeat():
    assert '["tags"] = {"string", "tags", true, false}' in tables_of_a_listing()


def test_a_field_is_known_by_both_names_as_one_field():
    lua = tables_of_a_listing()
    assert '["page_size"] = {"int32", "page_size", false, false}' in lua
    assert '["pageSize"] = {"int32", "page_size", false, false}' in lua


def test_a_timestamps_parts_belong_to_the_whole():
    lua = tables_of_a_listing()
    assert '["since"] = {"timestamp", "since", false, false}' in lua
    assert '["since.seconds"] = {"int64", "since.seconds", false, "since"}' in lua
    assert '["since.nanos"] = {"int32", "since.nanos", false, "since"}' in lua


def test_a_path_variable_is_no_query_parameter_but_is_known_as_one():
    lua = tables_of_a_listing()
    route = next(line for line in lua.splitlines() if "^/v1/shops/[^/:]+/things$" in line)
    assert '["shop_id"] =' not in route.split("path =")[0]
    assert route.endswith('path = {["shop_id"] = true}},')
