-- A request id names a request of whoever signs up (the subject of its token; the staff, who
-- registers customers bound to no one, is one scope), as orders scopes a purchase's to its buyer.
-- Unique across all customers, a shopper who knew or derived another's id (an Idempotency-Key
-- maps to a UUID v5 anyone can compute from the subject and the key) could use it first: the
-- owner's sign-up was then refused, and the refusal told whether the owner had used that key.
-- NULLS NOT DISTINCT: the staff's ids (subject NULL) are one scope among themselves too.
ALTER TABLE customers.customers DROP CONSTRAINT customers_request_id_key;
CREATE UNIQUE INDEX customers_signer_request_key ON customers.customers (request_id, subject) NULLS NOT DISTINCT
 WHERE request_id IS NOT NULL;
