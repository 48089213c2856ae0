-- Named queries of the customers service; each name is a method of CustomerRepository.
-- A customer's states are parameters named after them (%(active)s is CustomerState.ACTIVE).
-- A statement that creates or deactivates a customer writes its event into customers.events
-- itself, from the change's RETURNING (the `logged` CTEs): the change and its event commit
-- together or not at all, and the table's trigger wakes the feed at commit (migration 0004,
-- runtime/feed.py).

-- name: create_customer
WITH created AS (
    INSERT INTO customers.customers (request_id, name, email, document, phone, subject)
    VALUES (%(request_id)s, %(name)s, %(email)s, %(document)s, %(phone)s, %(subject)s)
    ON CONFLICT (request_id, subject) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO customers.events (aggregate_id, type, payload)
    SELECT id, 'customer.created', jsonb_build_object('customer', to_jsonb(created)) FROM created
)
SELECT * FROM created;

-- name: subject_signed_up
SELECT 1 FROM customers.customers WHERE subject = %(subject)s;

-- name: get_customer_by_request_id
-- The signer's own (migration 0003): the subject, or NULL for the staff.
SELECT *
  FROM customers.customers
 WHERE request_id = %(request_id)s
   AND subject IS NOT DISTINCT FROM %(subject)s;

-- name: get_customer
SELECT * FROM customers.customers WHERE id = %(id)s;

-- name: get_customers
SELECT * FROM customers.customers WHERE id = ANY(%(ids)s::uuid[]);

-- name: list_customers
SELECT *
  FROM customers.customers
 WHERE (%(show_deactivated)s OR state = %(active)s)
   AND (%(after_id)s::uuid IS NULL OR id > %(after_id)s)
 ORDER BY id
 LIMIT %(limit)s;

-- name: deactivate_customer
-- Only an active customer changes, so the first deactivation time is kept.
WITH deactivated AS (
    UPDATE customers.customers
       SET state = %(deactivated)s,
           deactivate_time = now()
     WHERE id = %(id)s
       AND state = %(active)s
    RETURNING *
), logged AS (
    INSERT INTO customers.events (aggregate_id, type, payload)
    SELECT id, 'customer.deactivated', jsonb_build_object('customer', to_jsonb(deactivated)) FROM deactivated
)
SELECT * FROM deactivated;
