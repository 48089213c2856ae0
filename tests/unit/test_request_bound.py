"""The services' largest request bound (runtime.server.MAX_REQUEST_BYTES) holds the largest request
any service takes: a batch of lookups at its proto's bound, each with the longest token."""

from recordstore.customers.v1 import customers_pb2

from services.runtime import rules
from services.runtime.auth import MAX_TOKEN_CHARACTERS
from services.runtime.server import MAX_REQUEST_BYTES


def test_the_largest_batch_of_lookups_fits_the_request_bound():
    lookups = rules.of(customers_pb2.BatchGetCustomersRequest, "lookups").max_items
    largest = customers_pb2.BatchGetCustomersRequest(lookups=[
        customers_pb2.CustomerLookup(id="0190a000-0000-7000-8000-000000000000", bearer_token="x" * MAX_TOKEN_CHARACTERS)
        for _ in range(lookups)])
    assert largest.ByteSize() + 5 <= MAX_REQUEST_BYTES  # and its gRPC frame's 5 bytes
    assert largest.ByteSize() > MAX_REQUEST_BYTES * 0.8  # the bound is that request's, not far above it
