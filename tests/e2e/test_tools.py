"""Tools that speak today's versions: server reflection v1, and the health .proto for clients
that load .proto files (Node's @grpc/proto-loader)."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_tools import protoc

from tests.support import REPO_ROOT, channel

V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def reflect_v1(address: str, *requests: reflection_pb2.ServerReflectionRequest) -> list:
    """What a client that speaks only v1 gets: v1's method path. v1's messages are wire-identical
    to v1alpha's, so v1alpha's generated classes encode and decode them."""
    with channel(address) as opened:
        call = opened.stream_stream(V1_METHOD, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        return list(call(iter(requests), timeout=10))


def test_reflection_v1_lists_the_services_and_describes_them_well_enough_to_build_a_client(stack):
    listed, described, itself = reflect_v1(
        stack.addresses["catalog"],
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="recordstore.catalog.v1.CatalogService"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"))
    names = {service.name for service in listed.list_services_response.service}
    assert {"recordstore.catalog.v1.CatalogService", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= names

    # The files come with their imports: a fresh pool resolves the service and its messages.
    pool = descriptor_pool.DescriptorPool()
    pending = [descriptor_pb2.FileDescriptorProto.FromString(raw)
               for raw in described.file_descriptor_response.file_descriptor_proto]
    while pending:
        known = {file.name for file in pending}
        ready = [f for f in pending if not set(f.dependency) & known]
        for file in ready:
            pool.Add(file)
        pending = [f for f in pending if f not in ready]
    service = pool.FindServiceByName("recordstore.catalog.v1.CatalogService")
    assert service.methods_by_name["GetDisc"].output_type.full_name == "recordstore.catalog.v1.Disc"

    v1 = descriptor_pb2.FileDescriptorProto.FromString(itself.file_descriptor_response.file_descriptor_proto[0])
    assert (v1.name, v1.package) == ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1")
    method = v1.service[0].method[0]
    assert (method.input_type, method.output_type) == (".grpc.reflection.v1.ServerReflectionRequest",
                                                       ".grpc.reflection.v1.ServerReflectionResponse")


def test_reflection_v1alpha_still_answers(stack):
    with channel(stack.addresses["orders"]) as opened:
        call = opened.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        [answer] = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    assert "recordstore.orders.v1.OrderService" in {s.name for s in answer.list_services_response.service}


def test_the_shipped_health_proto_compiles_to_the_descriptor_the_services_serve(tmp_path):
    out = tmp_path / "health.pb"
    assert protoc.main(["protoc", f"--proto_path={REPO_ROOT / 'protos'}", f"--descriptor_set_out={out}",
                        "grpc/health/v1/health.proto"]) == 0
    [shipped] = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    served = descriptor_pb2.FileDescriptorProto.FromString(health_pb2.DESCRIPTOR.serialized_pb)
    # grpcio-health-checking compiled it under another file name; the import path clients use
    # (and the one grpc/grpc publishes) is grpc/health/v1/health.proto.
    assert shipped.name == "grpc/health/v1/health.proto"
    served.name = shipped.name
    # protoc records json_name in a descriptor set, not in the one a generated module embeds.
    for message in [*shipped.message_type, *(n for m in shipped.message_type for n in m.nested_type)]:
        for field in message.field:
            field.ClearField("json_name")
    assert shipped == served
