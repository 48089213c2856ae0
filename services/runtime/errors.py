"""Errors a use case raises, each knowing its gRPC status, and their google.rpc.Status form.

A client reads the code, a stable `reason` (google.rpc.ErrorInfo), and for INVALID_ARGUMENT the
offending field (google.rpc.BadRequest) or for NOT_FOUND the resource (google.rpc.ResourceInfo).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DOMAIN = "recordstore"


class ServiceError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason

    def details(self) -> list:
        return [error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)]


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str, reason: str = "INVALID_FIELD"):
        super().__init__(f"{field}: {description}", reason)
        self.field = field
        self.description = description

    def details(self) -> list:
        violation = error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.description)
        return [*super().details(), error_details_pb2.BadRequest(field_violations=[violation])]


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource_type: str, resource_id: str):
        super().__init__(f"{resource_type} {resource_id!r} not found", f"{resource_type.upper()}_NOT_FOUND")
        self.resource_type = resource_type
        self.resource_id = resource_id

    def details(self) -> list:
        info = error_details_pb2.ResourceInfo(resource_type=self.resource_type, resource_name=self.resource_id)
        return [*super().details(), info]


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


def to_rpc_status(error: ServiceError) -> status_pb2.Status:
    details = []
    for detail in error.details():
        packed = any_pb2.Any()
        packed.Pack(detail)
        details.append(packed)
    return status_pb2.Status(code=getattr(code_pb2, error.code.name), message=error.message, details=details)
