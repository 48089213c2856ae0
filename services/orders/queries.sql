-- Named queries of the orders service; each name is a method of PurchaseRepository.
-- A purchase's states are parameters named after them (%(pending)s is PurchaseState.PENDING):
-- the repository passes model.PurchaseState, so the SQL cannot name a state the code lacks.

-- name: insert_pending_purchase
INSERT INTO orders.purchases (request_id, customer_id, disc_id, quantity, customer_subject)
VALUES (%(request_id)s, %(customer_id)s, %(disc_id)s, %(quantity)s, %(customer_subject)s)
ON CONFLICT (customer_id, request_id) DO NOTHING
RETURNING *;

-- name: get_purchase_by_request_id
SELECT * FROM orders.purchases WHERE customer_id = %(customer_id)s AND request_id = %(request_id)s;

-- name: get_purchase
SELECT * FROM orders.purchases WHERE id = %(id)s;

-- name: settle_purchase
-- Records the reservation's outcome on a pending purchase; a concurrent settler matches nothing.
UPDATE orders.purchases
   SET state = CASE WHEN %(granted)s THEN %(confirmed)s ELSE %(rejected)s END,
       effective = %(granted)s,
       unit_price_cents = %(unit_price_cents)s,
       total_cents = %(unit_price_cents)s * quantity,
       currency = %(currency)s,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(pending)s
RETURNING *;

-- name: start_failure
-- Decides that a pending purchase can never settle: from here no settlement can confirm it, and
-- what is left is to give back its reservation (if any) and finish the failure.
UPDATE orders.purchases
   SET state = %(failing)s,
       failure_reason = %(reason)s,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(pending)s
RETURNING *;

-- name: finish_failure
UPDATE orders.purchases
   SET state = %(failed)s,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(failing)s
RETURNING *;

-- name: record_failed_attempt
-- A recovery round failed on this purchase: count it, and send it to the back of the work list so
-- that it cannot starve the others.
UPDATE orders.purchases
   SET attempts = attempts + 1,
       update_time = now()
 WHERE id = %(id)s
   AND state IN (%(pending)s, %(cancelling)s, %(failing)s)
RETURNING *;

-- name: delete_pending_purchase
-- The disc does not exist: nothing was reserved, so the pending purchase leaves no trace.
DELETE FROM orders.purchases WHERE id = %(id)s AND state = %(pending)s;

-- name: start_cancellation
UPDATE orders.purchases
   SET state = %(cancelling)s,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(confirmed)s
RETURNING *;

-- name: finish_cancellation
UPDATE orders.purchases
   SET state = %(cancelled)s,
       cancel_time = now(),
       update_time = now()
 WHERE id = %(id)s
   AND state = %(cancelling)s
RETURNING *;

-- name: list_purchases
SELECT *
  FROM orders.purchases
 WHERE (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s)
   AND (%(customer_subject)s::text IS NULL OR customer_subject = %(customer_subject)s)
   AND (%(start_time)s::timestamptz IS NULL OR create_time >= %(start_time)s)
   AND (%(end_time)s::timestamptz IS NULL OR create_time < %(end_time)s)
   AND (%(after_time)s::timestamptz IS NULL OR (create_time, id) < (%(after_time)s, %(after_id)s::uuid))
 ORDER BY create_time DESC, id DESC
 LIMIT %(limit)s;

-- name: list_unfinished_purchases
SELECT *
  FROM orders.purchases
 WHERE state IN (%(pending)s, %(cancelling)s, %(failing)s)
   AND update_time < now() - make_interval(secs => %(older_than_seconds)s)
 ORDER BY update_time
 LIMIT %(limit)s;

-- name: recovery_backlog
-- What the recovery loop has left to do, for the metrics: read once per round (the partial index
-- purchases_unfinished holds exactly these rows), never per scrape.
SELECT count(*) AS purchases,
       coalesce(extract(epoch FROM now() - min(create_time)), 0)::float8 AS oldest_seconds
  FROM orders.purchases
 WHERE state IN (%(pending)s, %(cancelling)s, %(failing)s);
