"""OpenAPI 3 document and Insomnia collection of the JSON API, derived from the descriptor set.

The gateway transcodes from the same descriptors, so what these documents describe is what
Envoy serves: paths and verbs from google.api.http, snake_case names (preserve_proto_field_names),
int64 as strings, enums as names, Timestamp as RFC 3339, errors as google.rpc.Status.

The bounds of every request field come from the (recordstore.rules.v1.field) options the services
enforce (services/runtime/rules.py), and their words from the comments of rules.proto: format
uuid, minimum/maximum, pattern, maxLength, required. The rules code keeps (which characters text
may hold, ISO 4217) are described here from the same sources: the text pattern is built by the
services' own validation module.
"""

from __future__ import annotations

import json
import re
import unicodedata

from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf import descriptor_pb2
from recordstore.rules.v1 import rules_pb2

from services.runtime.money import CURRENCIES
from services.runtime.validation import text_pattern

API_FILES = ("recordstore/customers/v1/customers.proto", "recordstore/catalog/v1/catalog.proto",
             "recordstore/orders/v1/orders.proto")
F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    # proto3 JSON: a string of digits in answers; a request may send a number too.
    F.TYPE_INT64: {"anyOf": [{"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}], "format": "int64"},
    F.TYPE_DOUBLE: {"type": "number"},
    F.TYPE_BYTES: {"type": "string", "format": "byte"},
}
WELL_KNOWN = {".google.protobuf.Timestamp": {"type": "string", "format": "date-time"}}
RULES_FILE = "recordstore/rules/v1/rules.proto"
TEXT, REQUIRED_TEXT = "recordstore_Text", "recordstore_RequiredText"
# What the text pattern cannot state (services/runtime/validation.py, text_pattern says why).
TEXT_PATTERN_LIMITS = (f"The pattern states every refused character but the unassigned code points (Unicode "
                       f"{unicodedata.unidata_version}'s, which each Unicode version changes) and surrogates "
                       "(which UTF-8 cannot carry); its code points beyond U+FFFF are the characters themselves, "
                       "as ECMA-262 reads them with the u flag.")
# google.type.Money in JSON: units (int64) as a string of digits. The largest a rule allows is
# written as a pattern, the one bound JSON Schema can put on a string of digits.
UNITS_DIGITS = "^(0|[1-9][0-9]*)$"
# The ErrorInfo reasons the gateway answers with itself, before any service (gateway/envoy.yaml,
# gateway/body_check.lua): clients program against them (a test keeps this list, those files and
# docs/api.md in step).
GATEWAY_REASONS = (
    "UNKNOWN_FIELD", "DUPLICATE_FIELD", "INVALID_FIELD", "TIMESTAMP_OUT_OF_RANGE", "INVALID_JSON", "INVALID_UTF8",
    "BODY_NOT_ALLOWED", "INVALID_REQUEST",
    "INVALID_PATH", "INVALID_HEADER", "BODY_TOO_LARGE", "HEADERS_TOO_LARGE", "REQUEST_TIMEOUT", "METHOD_NOT_ALLOWED",
    "UNSUPPORTED_MEDIA_TYPE", "TOKEN_MISSING", "TOKEN_INVALID", "TOKEN_EXPIRED", "NO_SUCH_PATH", "SERVICE_UNAVAILABLE",
    "UPSTREAM_TIMEOUT", "REQUEST_REFUSED", "RATE_LIMITED",
)
# The 4xx each operation can answer, declared so that a client (and Schemathesis) knows them.
# Every operation: a request the gateway or the service refuses (400), the gateway's limits (408,
# 431) and an unknown path (404); with a body, 413 and 415; with a token, 401 and 403. Beyond
# those, what each operation's own rules and states answer (the services' errors, by reason).
GATEWAY_400 = ("a field is wrong (google.rpc.BadRequest names it: INVALID_FIELD, UNKNOWN_FIELD, DUPLICATE_FIELD, "
               "INVALID_UTF8, NUL_CHARACTER, TIMESTAMP_OUT_OF_RANGE...), or the request is not one the gateway "
               "takes (INVALID_JSON, BODY_NOT_ALLOWED, INVALID_PATH, INVALID_HEADER, INVALID_REQUEST)")
OPERATION_ERRORS = {
    "CreateCustomer": {"409": "the email is taken (EMAIL_TAKEN), or the request_id was used by someone else "
                              "(REQUEST_ID_REUSED)",
                       "429": "too many sign-up attempts by this token's subject or from this address "
                              "(RATE_LIMITED; docs/edge.md)"},
    "GetCustomer": {"404": "no such customer (CUSTOMER_NOT_FOUND)"},
    "ListCustomers": {"400": "a page_token not issued for this listing (INVALID_PAGE_TOKEN)"},
    "DeactivateCustomer": {"404": "no such customer (CUSTOMER_NOT_FOUND)"},
    "CreateDisc": {"400": "a price beyond the limit (PRICE_TOO_HIGH) or in an unsupported currency "
                          "(UNSUPPORTED_CURRENCY)"},
    "GetDisc": {"404": "no such disc (DISC_NOT_FOUND)"},
    "ListDiscs": {"400": "a page_token not issued for this listing (INVALID_PAGE_TOKEN)"},
    "RestockDisc": {"400": "the stock would go beyond its limit (STOCK_LIMIT_EXCEEDED)",
                    "404": "no such disc (DISC_NOT_FOUND)"},
    "CreatePurchase": {"400": "the customer is deactivated (FAILED_PRECONDITION, CUSTOMER_DEACTIVATED)",
                       "404": "no such customer or disc, or another customer's (CUSTOMER_NOT_FOUND, DISC_NOT_FOUND)",
                       "409": "the request_id was used for another purchase (REQUEST_ID_REUSED)"},
    "GetPurchase": {"404": "no such purchase, or another customer's (PURCHASE_NOT_FOUND)"},
    "ListPurchases": {"400": "end_time not after start_time, or a page_token not issued for this listing "
                             "(INVALID_PAGE_TOKEN)"},
    "CancelPurchase": {"400": "the purchase was not effective, REJECTED or FAILED: nothing to cancel "
                              "(FAILED_PRECONDITION, PURCHASE_NOT_EFFECTIVE)",
                       "404": "no such purchase, or another customer's (PURCHASE_NOT_FOUND)"},
}


def error_responses(method: str, has_body: bool, anonymous: bool) -> dict[str, dict]:
    """The 4xx responses of an operation, each a google.rpc.Status described in words."""
    words = {"400": GATEWAY_400, "404": "no such path (NO_SUCH_PATH)",
             "408": "the request was not received in time (REQUEST_TIMEOUT)",
             "431": "the request line and headers are beyond 8 KiB or 100 lines (HEADERS_TOO_LARGE)",
             "401": ("a token was sent that is not valid (TOKEN_INVALID, TOKEN_EXPIRED)" if anonymous else
                     "no bearer token (TOKEN_MISSING), or one that is not valid (TOKEN_INVALID, TOKEN_EXPIRED)")}
    if not anonymous:
        words["403"] = "the token's role may not call this (ROLE_REQUIRED)"
    if has_body:
        words["413"] = "the body is larger than 64 KiB (BODY_TOO_LARGE)"
        words["415"] = "the body is not JSON in UTF-8, uncompressed (UNSUPPORTED_MEDIA_TYPE)"
    for status, own in OPERATION_ERRORS.get(method, {}).items():
        words[status] = f"{own}; or {words[status]}" if status in words else own
    status_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/google_rpc_Status"}}}
    return {status: {"description": words[status], "content": status_ref} for status in sorted(words)}


STATUS_SCHEMA = {
    "type": "object",
    "description": "A google.rpc.Status: the gRPC code, a message, and typed details "
                   "(google.rpc.ErrorInfo with a stable reason, google.rpc.BadRequest naming the field, "
                   "google.rpc.ResourceInfo naming the missing resource). Reasons the gateway answers "
                   "with itself, before any service: " + ", ".join(GATEWAY_REASONS) + ".",
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code (5 NOT_FOUND, 3 INVALID_ARGUMENT...)"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object", "additionalProperties": True,
                                               "properties": {"@type": {"type": "string"}}}},
    },
    "required": ["code", "message", "details"],
}
# Example bodies and query values for the request collection (and the OpenAPI examples).
EXAMPLES = {
    "CreateCustomer": {"name": "Ana Souza", "email": "ana.souza@example.com", "document": "123.456.789-00",
                       "phone": "+55 11 91234-5678"},
    "CreateDisc": {"title": "Acabou Chorare", "artist": "Novos Baianos", "genre": "MPB", "release_year": 1972,
                   "price": {"currency_code": "BRL", "units": "59", "nanos": 900000000}, "stock": 10},
    "RestockDisc": {"quantity": 5},
    "CreatePurchase": {"customer_id": "01a21e7c-ebb2-7250-9ca6-93574ae040bc",
                       "disc_id": "01a21e7a-0bf5-724f-a42f-011764c90012", "quantity": 1},
    "DeactivateCustomer": {},
    "CancelPurchase": {},
}
# Values for each optional query parameter in the collection: disabled, and valid once enabled.
QUERY_EXAMPLES = {"page_size": "20", "page_token": "{{ _.page_token }}", "artist": "novos baianos",
                  "title": "acabou", "genre": "MPB", "release_year": "1972", "show_deactivated": "true",
                  "customer_id": "{{ _.customer_id }}", "start_time": "2026-01-01T00:00:00Z",
                  "end_time": "2027-01-01T00:00:00Z", "request_id": "{% uuid 'v4' %}"}
# Values that must differ on every send (an email is taken once per database).
UNIQUE_BODY_VALUES = {"CreateCustomer": {"email": "ana.souza+{% uuid 'v4' %}@example.com"}}
PATH_VARIABLES = {"CustomerService": "customer_id", "CatalogService": "disc_id", "OrderService": "purchase_id"}
# Who calls what (docs/api.md, "Who may call what"; each service's access.py decides, and a test keeps
# these in step): browsing needs no token; signing up and buying are a customer's own acts; the
# staff's token does the rest (a customer's does too, on its own records).
ANONYMOUS_OPERATIONS = frozenset({"GetDisc", "ListDiscs"})
CUSTOMER_OPERATIONS = frozenset({"CreateCustomer", "CreatePurchase"})
# Requests of the collection beside the one of each operation, as another caller sends them: the
# sale at the counter is CreatePurchase sent with the staff's token, for any customer.
SECOND_CALLERS = {"CreatePurchase": ("CreatePurchase at the counter", "token",
                                     "A sale at the counter: the staff records a purchase for the customer in "
                                     "customer_id (any active customer); it is the customer's, and its "
                                     "recorded_by names the staff member.")}
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
          "description": "A JWT of the identity provider (locally: python -m devstack token --staff | "
                         "--customer <subject>). Roles in its `roles` claim: staff, customer."}
# In the collection, ids in example bodies come from the environment.
BODY_VARIABLES = ("customer_id", "disc_id")


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple, str]:
    return {tuple(loc.path): " ".join(loc.leading_comments.split()) for loc in file.source_code_info.location
            if loc.leading_comments}


class _Builder:
    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet):
        self.messages: dict[str, tuple[descriptor_pb2.DescriptorProto, dict, tuple]] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.files = [f for f in descriptors.file if f.name in API_FILES]
        self.rule_words = _rule_words(descriptors)
        for file in descriptors.file:
            comments = _comments(file)
            for i, message in enumerate(file.message_type):
                self._index(f".{file.package}", message, comments, (4, i))
        self.schemas: dict[str, dict] = {}

    def _index(self, scope, message, comments, path):
        name = f"{scope}.{message.name}"
        self.messages[name] = (message, comments, path)
        for i, nested in enumerate(message.nested_type):
            self._index(name, nested, comments, (*path, 3, i))
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = enum

    def schema_name(self, full_name: str) -> str:
        return full_name.lstrip(".").replace(".", "_")

    def field_schema(self, field) -> dict:
        if field.type == F.TYPE_MESSAGE:
            schema = dict(WELL_KNOWN.get(field.type_name) or {"$ref": self.ref(field.type_name)})
        elif field.type == F.TYPE_ENUM:
            schema = {"type": "string", "enum": [v.name for v in self.enums[field.type_name].value]}
        else:
            schema = dict(SCALARS[field.type])
        if field.label == F.LABEL_REPEATED:
            schema = {"type": "array", "items": schema}
        return self.constrained(field, schema)

    def constrained(self, field, schema: dict) -> dict:
        """`schema` with the field's (recordstore.rules.v1.field) rules, in JSON Schema terms."""
        rules = field.options.Extensions[rules_pb2.field]
        required = field_behavior_pb2.REQUIRED in field.options.Extensions[field_behavior_pb2.field_behavior]
        words = []
        if rules.uuid:
            schema["format"] = "uuid"
            if rules.zero_is_unset:  # "" is a filter or key not given
                schema = {"type": "string", "anyOf": [{"format": "uuid"}, {"maxLength": 0}]}
        if rules.text:
            self.text_schemas()
            words.append(self.rule_words["text"])
            schema = {"allOf": [{"$ref": f"#/components/schemas/{REQUIRED_TEXT if required else TEXT}"}]}
        if rules.max_length:
            schema["maxLength"] = rules.max_length
        if rules.pattern:
            if "allOf" in schema:
                schema["allOf"].append({"pattern": rules.pattern})
            else:
                schema["pattern"] = rules.pattern
            words.append(f"Must be {rules.pattern_meaning}." if rules.pattern_meaning else "")
        bounds = {}
        if rules.HasField("minimum"):
            bounds["minimum"] = rules.minimum
        if rules.HasField("maximum") and not rules.clamp_to_maximum:
            bounds["maximum"] = rules.maximum
        if rules.clamp_to_maximum:
            words.append(f"Above {rules.maximum} is taken as {rules.maximum}.")
        if rules.default_value:
            words.append(f"0 means {rules.default_value}.")
        if rules.zero_is_unset and (bounds.get("minimum", 0) > 0):
            schema["anyOf"] = [{"enum": [0]}, bounds]
            words.append("0 means not set.")
        else:
            schema.update(bounds)
        if rules.maximum_reason:
            words.append(f"Beyond {rules.maximum}: {rules.maximum_reason}.")
        if rules.after:
            words.append(f"Must be after {rules.after}.")
        if rules.HasField("money"):
            schema = self.money_schema(schema, rules.money)
            words.append(self.rule_words["money"])
        words = [w for w in words if w]
        if words:
            schema["description"] = " ".join(words)
        return schema

    def money_schema(self, ref: dict, rules) -> dict:
        """A price: its currency one of ISO 4217's that the services take (services/runtime/money.py
        reads them from ISO's table), whole cents, and nanos 0 in a currency without minor units."""
        units = {"anyOf": [{"type": "string", "pattern": UNITS_DIGITS}, {"type": "integer", "minimum": 0}]}
        nanos = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 999_999_999}
        if rules.whole_cents:
            nanos.update(multipleOf=10_000_000, maximum=990_000_000, description=self.rule_words["whole_cents"])
        with_minor = sorted(code for code, minor in CURRENCIES.items() if minor)
        without_minor = sorted(code for code, minor in CURRENCIES.items() if not minor)
        cases = [{"anyOf": [{"properties": {"currency_code": {"enum": with_minor}}},
                            {"properties": {"currency_code": {"enum": without_minor}, "nanos": {"enum": [0]}}}]}]
        if rules.max_units:
            # Below the maximum with any cents, or the maximum itself with none.
            limit = rules.max_units
            units["description"] = f"At most {limit} (beyond: {rules.max_units_reason or 'INVALID_FIELD'})."
            cases.append({"anyOf": [
                {"properties": {"units": {"anyOf": [{"type": "string", "pattern": _below(limit)},
                                                    {"type": "integer", "maximum": limit - 1}]}}},
                {"properties": {"units": {"enum": [str(limit), limit]}, "nanos": {"enum": [0]}}}]})
        return {"allOf": [ref, {
            "type": "object", "required": ["currency_code"],
            "properties": {"currency_code": {"type": "string", "description": self.rule_words["money"]},
                           "units": units, "nanos": nanos},
            "allOf": cases}]}

    def text_schemas(self) -> None:
        if TEXT not in self.schemas:
            words = f"{self.rule_words['text']} {TEXT_PATTERN_LIMITS}"
            self.schemas[TEXT] = {"type": "string", "pattern": text_pattern(required=False), "description": words}
            self.schemas[REQUIRED_TEXT] = {"type": "string", "minLength": 1, "pattern": text_pattern(required=True),
                                           "description": words + " Not empty once trimmed."}

    def field(self, message_name: str, name: str):
        return next(f for f in self.messages[message_name][0].field if f.name == name)

    def ref(self, full_name: str) -> str:
        name = self.schema_name(full_name)
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursion-safe
            self.schemas[name] = self.message_schema(full_name)
        return f"#/components/schemas/{name}"

    def message_schema(self, full_name: str, skip: frozenset = frozenset()) -> dict:
        message, comments, path = self.messages[full_name]
        properties, required = {}, []
        for j, field in enumerate(message.field):
            if field.name in skip:
                continue
            schema = self.field_schema(field)
            note = comments.get((*path, 2, j))
            behaviors = field.options.Extensions[field_behavior_pb2.field_behavior]
            if field_behavior_pb2.OUTPUT_ONLY in behaviors:
                schema["readOnly"] = True
            if field_behavior_pb2.REQUIRED in behaviors:
                required.append(field.name)
            if note:
                words = " ".join(filter(None, [note, schema.get("description")]))
                schema = {**schema, "description": words} if "$ref" not in schema else {
                    "allOf": [schema], "description": words}
            properties[field.name] = schema
        # The gateway refuses a key no field has (gateway/body_check.lua).
        result = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            result["required"] = required
        if comments.get(path):
            result["description"] = comments[path]
        return result

    def query_parameters(self, full_name: str, skip: set) -> list[dict]:
        message, comments, path = self.messages[full_name]
        parameters = []
        for j, field in enumerate(message.field):
            if field.name in skip or (field.type == F.TYPE_MESSAGE and field.type_name not in WELL_KNOWN):
                continue
            parameter = {"name": field.name, "in": "query", "required": False, "schema": self.field_schema(field)}
            words = " ".join(filter(None, [comments.get((*path, 2, j)), parameter["schema"].pop("description", None)]))
            if words:
                parameter["description"] = words
            parameters.append(parameter)
        return parameters

    def operations(self):
        for file in self.files:
            comments = _comments(file)
            for s, service in enumerate(file.service):
                for m, method in enumerate(service.method):
                    rule = method.options.Extensions[annotations_pb2.http]
                    verb = rule.WhichOneof("pattern")
                    if verb is None:
                        continue  # internal: no HTTP binding, not reachable through the gateway
                    yield file, service, method, rule, verb, getattr(rule, verb), comments.get((6, s, 2, m), "")

    def document(self) -> dict:
        paths: dict[str, dict] = {}
        for file, service, method, rule, verb, template, note in self.operations():
            variables = re.findall(r"{(\w+)}", template)
            operation = {
                "operationId": method.name,
                "tags": [service.name],
                "parameters": [{"name": v, "in": "path", "required": True,
                                "schema": self.field_schema(self.field(method.input_type, v))} for v in variables],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {
                        "schema": {"$ref": self.ref(method.output_type)}}}},
                    **error_responses(method.name, bool(rule.body), method.name in ANONYMOUS_OPERATIONS),
                    "default": {"description": "An error, as google.rpc.Status", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/google_rpc_Status"}}}},
                },
            }
            if note:
                operation["description"] = note
            if method.server_streaming:
                # The gateway writes each message of a server stream as it comes, one JSON object a
                # line (gateway/envoy.yaml, stream_newline_delimited), as application/json.
                operation["x-server-streaming"] = True
                operation["responses"]["200"]["description"] = (
                    "A stream: one object of this schema a line (newline-delimited JSON), each as it "
                    "comes, for as long as the client stays")
            # Anonymous callers may browse; a token sent anyway must be valid.
            operation["security"] = [{}, {"bearer": []}] if method.name in ANONYMOUS_OPERATIONS else [{"bearer": []}]
            if rule.body == "*":
                body_schema = self.message_schema(method.input_type, skip=frozenset(variables))
                query_skip = set(f.name for f in self.messages[method.input_type][0].field)
            elif rule.body:
                body_field = next(f for f in self.messages[method.input_type][0].field if f.name == rule.body)
                body_schema = {"$ref": self.ref(body_field.type_name)}
                query_skip = {*variables, rule.body}
            else:
                body_schema = None
                query_skip = set(variables)
            operation["parameters"] += self.query_parameters(method.input_type, query_skip)
            if body_schema is not None:
                # A body with nothing in it (`:cancel`, `:deactivate`) may be left out altogether.
                has_fields = "properties" not in body_schema or body_schema["properties"]
                body = {"required": bool(has_fields), "content": {"application/json": {"schema": body_schema}}}
                if method.name in EXAMPLES:
                    body["content"]["application/json"]["example"] = EXAMPLES[method.name]
                operation["requestBody"] = body
            paths.setdefault(template, {})[verb] = operation
        self.schemas["google_rpc_Status"] = STATUS_SCHEMA
        return {
            "openapi": "3.0.3",
            "info": {"title": "Record store JSON API", "version": "1.0.0",
                     "description": "Customers, discs and purchases, served by the Envoy gateway "
                                    "(grpc_json_transcoder) in front of the gRPC services."},
            "servers": [{"url": "http://localhost:8080", "description": "local stack (scripts/run)"}],
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(self.schemas.items())), "securitySchemes": {"bearer": BEARER}},
        }


def _rule_words(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """The comments of rules.proto that say what a rule means to a client, by rule."""
    file = next(f for f in descriptors.file if f.name == RULES_FILE)
    comments = _comments(file)
    index = {m.name: (i, m) for i, m in enumerate(file.message_type)}
    def of(message: str, field: str | None = None) -> str:
        i, found = index[message]
        if field is None:
            return comments[(4, i)]
        j = next(j for j, f in enumerate(found.field) if f.name == field)
        return comments[(4, i, 2, j)]
    return {"text": of("FieldRules", "text"), "money": of("MoneyRules"),
            "whole_cents": of("MoneyRules", "whole_cents")}


def _below(limit: int) -> str:
    """A pattern of the decimal numbers 0..limit-1, limit a power of ten (a price's maximum: the
    limit itself is allowed with 0 nanos only, which the description says)."""
    digits = str(limit)
    if digits.strip("0") != "1":
        raise ValueError(f"only a power of ten has a pattern here, not {limit}")
    return f"^(0|[1-9][0-9]{{0,{len(digits) - 2}}})$"


def build_openapi(descriptor_set: bytes) -> dict:
    return _Builder(descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)).document()


def build_collection(openapi: dict) -> dict:
    """An Insomnia (export format 4) collection: one request per operation; a local and a deployed
    environment."""
    workspace = "wrk_recordstore"
    resources = [
        {"_id": workspace, "_type": "workspace", "name": "Record store (JSON API)", "scope": "collection",
         "description": "Requests for the local stack: run scripts/run, put the output of `python -m devstack "
                        "token --staff` in token and of `... token --customer <you>` in customer_token, "
                        "then fill in the ids."},
        {"_id": "env_base", "_type": "environment", "parentId": workspace, "name": "Base Environment", "data": {}},
        {"_id": "env_local", "_type": "environment", "parentId": "env_base", "name": "Local stack",
         "data": {"base_url": "http://localhost:8080", "customer_id": "", "disc_id": "", "purchase_id": "",
                  "page_token": "", "token": "", "customer_token": ""}},
        {"_id": "env_deployed", "_type": "environment", "parentId": "env_base", "name": "Deployed",
         "data": {"base_url": "https://recordstore.example.com", "customer_id": "", "disc_id": "",
                  "purchase_id": "", "page_token": "", "token": "", "customer_token": ""}},
    ]
    groups = {}
    for path, verbs in openapi["paths"].items():
        for verb, operation in verbs.items():
            if operation.get("x-server-streaming"):
                continue  # a stream that runs until the client leaves: curl shows it (docs/feed.md)
            tag = operation["tags"][0]
            if tag not in groups:
                groups[tag] = f"fld_{tag.lower()}"
                resources.append({"_id": groups[tag], "_type": "request_group", "parentId": workspace, "name": tag})
            url = re.sub(r"{\w+}", "{{ _.%s }}" % PATH_VARIABLES[tag], path)
            request = {"_id": f"req_{operation['operationId'].lower()}", "_type": "request",
                       "parentId": groups[tag], "name": operation["operationId"], "method": verb.upper(),
                       "url": "{{ _.base_url }}" + url, "headers": [], "parameters": [],
                       "description": operation.get("description", "")}
            if "requestBody" in operation:
                example = dict(operation["requestBody"]["content"]["application/json"].get("example", {}))
                example.update({k: "{{ _.%s }}" % k for k in BODY_VARIABLES if k in example})
                example.update(UNIQUE_BODY_VALUES.get(operation["operationId"], {}))
                request["body"] = {"mimeType": "application/json", "text": json.dumps(example, indent=2)}
                request["headers"] = [{"name": "Content-Type", "value": "application/json"}]
            request["parameters"] = [{"name": p["name"], "value": QUERY_EXAMPLES[p["name"]], "disabled": True}
                                     for p in operation["parameters"] if p["in"] == "query"]
            # The bearer token of the environment: `token` (the staff's) or `customer_token` (the
            # shopper's, who signs up and buys); browsing sends none.
            name = operation["operationId"]
            variable = "customer_token" if name in CUSTOMER_OPERATIONS else "token"
            resources.append(_with_bearer(request, variable, disabled=name in ANONYMOUS_OPERATIONS))
            if name in SECOND_CALLERS:
                title, variable, description = SECOND_CALLERS[name]
                second = {**request, "_id": f"{request['_id']}_{variable}", "name": title, "description": description,
                          "headers": [h for h in request["headers"] if h["name"] != "Authorization"]}
                resources.append(_with_bearer(second, variable, disabled=False))
    return {"_type": "export", "__export_format": 4, "__export_source": "recordstore.protos.openapi",
            "resources": resources}


def _with_bearer(request: dict, variable: str, disabled: bool) -> dict:
    """`request` sending the environment's bearer token `variable` (turned off when `disabled`)."""
    header = {"name": "Authorization", "value": "Bearer {{ _.%s }}" % variable, "disabled": disabled}
    return {**request, "headers": [*request["headers"], header]}


def dumps(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

