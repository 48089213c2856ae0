-- Named queries of the customers service; each name is a method of CustomerRepository.
-- A customer's states are parameters named after them (%(active)s is CustomerState.ACTIVE).

-- name: create_customer
INSERT INTO customers.customers (request_id, name, email, document, phone, subject)
VALUES (%(request_id)s, %(name)s, %(email)s, %(document)s, %(phone)s, %(subject)s)
ON CONFLICT (request_id, subject) WHERE request_id IS NOT NULL DO NOTHING
RETURNING *;

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
UPDATE customers.customers
   SET state = %(deactivated)s,
       deactivate_time = now()
 WHERE id = %(id)s
   AND state = %(active)s
RETURNING *;
