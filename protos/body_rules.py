"""The tables the gateway's JSON body check (gateway/body_check.lua) reads: the messages and
routes it checks against, derived from the descriptor set the transcoder uses, so that a field the
protos gain is accepted at the gateway the moment the transcoder knows it. Envoy loads the tables
(gateway/recordstore.pb.lua), then the check beside them (envoy.yaml).
"""

from __future__ import annotations

import re

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

F = descriptor_pb2.FieldDescriptorProto
KINDS = {
    F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_BOOL: "bool", F.TYPE_ENUM: "enum",
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "double",
    **{t: "int32" for t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_UINT32, F.TYPE_FIXED32)},
    **{t: "int64" for t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64)},
}
TIMESTAMP = ".google.protobuf.Timestamp"


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pattern(template: str) -> str:
    """A Lua pattern of a google.api.http path template: a variable is one segment."""
    parts = re.split(r"({\w+})", template)
    escaped = (re.sub(r"([%^$().\[\]*+\-?])", r"%\1", part) if not part.startswith("{") else "[^/:]+"
               for part in parts)
    return "^" + "".join(escaped) + "$"


class _Tables:
    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet):
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        for file in descriptors.file:
            for message in file.message_type:
                self._index(f".{file.package}", message)
            for enum in file.enum_type:
                self.enums[f".{file.package}.{enum.name}"] = enum
        self.needed: dict[str, list[str]] = {}
        self.needed_enums: dict[str, list[str]] = {}

    def _index(self, scope: str, message) -> None:
        name = f"{scope}.{message.name}"
        self.messages[name] = message
        for nested in message.nested_type:
            self._index(name, nested)
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = enum

    def need(self, name: str) -> None:
        if name in self.needed:
            return
        self.needed[name] = []  # recursion-safe
        entries = []
        for field in self.messages[name].field:
            if field.type == F.TYPE_MESSAGE and field.type_name == TIMESTAMP:
                spec = ("timestamp", None)
            elif field.type == F.TYPE_MESSAGE:
                if self.messages[field.type_name].options.map_entry:
                    raise ValueError(f"{name}.{field.name}: map fields are not checked yet")
                spec = ("message", field.type_name)
                self.need(field.type_name)
            elif field.type == F.TYPE_ENUM:
                spec = ("enum", field.type_name)
                self.needed_enums[field.type_name] = [v.name for v in self.enums[field.type_name].value]
            else:
                spec = (KINDS[field.type], None)
            repeated = "true" if field.label == F.LABEL_REPEATED else "false"
            # {kind, repeated, message or enum type (or false), proto name}: the proto name is the
            # field's one identity, so that "release_year" and "releaseYear" together are a
            # field given twice.
            value = "{%s, %s, %s, %s}" % (_lua(spec[0]), repeated, _lua(spec[1]) if spec[1] else "false",
                                          _lua(field.name))
            # The transcoder takes a field by its proto name and by its JSON (lowerCamel) name.
            for key in dict.fromkeys([field.name, field.json_name or field.name]):
                entries.append(f"[{_lua(key)}] = {value}")
        self.needed[name] = entries


def _query_fields(field) -> list[str]:
    """The names a query parameter of `field` may take, each as {kind, proto name, repeated,
    parent}: the transcoder takes the proto name and the JSON name, and a timestamp's parts
    apart (start_time.seconds, start_time.nanos), which conflict with the whole."""
    repeated = "true" if field.label == F.LABEL_REPEATED else "false"
    names = list(dict.fromkeys([field.name, field.json_name or field.name]))
    if field.type_name == TIMESTAMP:
        entries = [f"[{_lua(n)}] = {{\"timestamp\", {_lua(field.name)}, {repeated}, false}}" for n in names]
        for part, kind in (("seconds", "int64"), ("nanos", "int32")):
            entries += [f"[{_lua(f'{n}.{part}')}] = {{{_lua(kind)}, {_lua(f'{field.name}.{part}')}, {repeated}, "
                        f"{_lua(field.name)}}}" for n in names]
        return entries
    return [f"[{_lua(n)}] = {{{_lua(KINDS[field.type])}, {_lua(field.name)}, {repeated}, false}}" for n in names]


def build_lua(descriptor_set: bytes, api_files: tuple[str, ...]) -> str:
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    tables = _Tables(descriptors)
    routes, queries = [], []
    for file in descriptors.file:
        if file.name not in api_files:
            continue
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb is None:
                    continue
                template = getattr(rule, verb)
                request = tables.messages[method.input_type]
                if rule.body:
                    if rule.body == "*":
                        body, prefix = method.input_type, ""
                    else:
                        body = next(f for f in request.field if f.name == rule.body).type_name
                        prefix = rule.body
                    tables.need(body)
                    routes.append("  {method = %s, pattern = %s, body = %s, prefix = %s},"
                                  % (_lua(verb.upper()), _lua(_pattern(template)), _lua(body), _lua(prefix)))
                # Query parameters: the request's fields that neither the path nor the body binds.
                variables = re.findall(r"{(\w+)}", template)
                bound = set(variables) | ({rule.body} if rule.body else set())
                fields = [] if rule.body == "*" else [
                    entry for f in request.field if f.name not in bound
                    and (f.type != F.TYPE_MESSAGE or f.type_name == TIMESTAMP) for entry in _query_fields(f)]
                path = ", ".join(f"[{_lua(v)}] = true" for v in variables)
                queries.append("  {method = %s, pattern = %s, fields = {%s}, path = {%s}},"
                               % (_lua(verb.upper()), _lua(_pattern(template)), ", ".join(fields), path))
    lines = ["-- Generated by protos/generate.py from the descriptor set, for gateway/body_check.lua:",
             "-- do not edit; edit the protos and run it.", "", "MESSAGES = {"]
    for name, entries in tables.needed.items():
        lines.append(f"  [{_lua(name)}] = {{")
        lines.extend(f"    {entry}," for entry in entries)
        lines.append("  },")
    lines += ["}", "", "ENUMS = {"]
    for name, values in tables.needed_enums.items():
        lines.append(f"  [{_lua(name)}] = {{{', '.join(_lua(v) for v in values)}}},")
    lines += ["}", "", "ROUTES = {", *routes, "}", "", "QUERIES = {", *queries, "}", ""]
    return "\n".join(lines)
