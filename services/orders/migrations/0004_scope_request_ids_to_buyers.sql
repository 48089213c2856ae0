-- A request id names a request of its buyer only (as Stripe scopes idempotency keys to an
-- account). Unique across all purchases, a customer who knew or derived another's id (an
-- Idempotency-Key maps to a UUID v5 anyone can compute from the customer id and the key) could
-- use it first: the owner's purchase was then refused as REQUEST_ID_REUSED, and the refusal told
-- whether the owner had used that key.
ALTER TABLE orders.purchases DROP CONSTRAINT purchases_request_id_key;
ALTER TABLE orders.purchases ADD CONSTRAINT purchases_customer_request_key UNIQUE (customer_id, request_id);
