-- The staff records sales at the counter for any customer (issue 24): a purchase now says who
-- recorded it, the subject (`sub`) of the token that did, beside the customer whose it is
-- (customer_subject, the subject the customer is bound to, which decides who sees it). Until now
-- only the buyer itself could record a purchase, so the recorder of every earlier one is its
-- customer's subject.
ALTER TABLE orders.purchases ADD COLUMN recorded_by text;
UPDATE orders.purchases SET recorded_by = customer_subject;
-- A request id names a request of its customer and its recorder: a member of the staff retrying a
-- counter sale gets that sale back, and can neither take nor be refused a key the customer used
-- (an Idempotency-Key maps to the same UUID for both, from the customer id and the key). NULLS
-- NOT DISTINCT: purchases from before tokens (no recorder) stay one scope per customer.
ALTER TABLE orders.purchases DROP CONSTRAINT purchases_customer_request_key;
ALTER TABLE orders.purchases ADD CONSTRAINT purchases_customer_request_key
    UNIQUE NULLS NOT DISTINCT (customer_id, recorded_by, request_id);
