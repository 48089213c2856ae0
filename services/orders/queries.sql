-- Named queries of the orders service; each name is a method of PurchaseRepository.
-- A purchase's states are parameters named after them (%(pending)s is PurchaseState.PENDING):
-- the repository passes model.PurchaseState, so the SQL cannot name a state the code lacks.
-- A statement that brings a purchase to a final state (settled, failed, cancelled) writes its
-- event into orders.events itself, from the change's RETURNING (the `logged` CTEs): the change
-- and its event commit together or not at all, in the round trip the change took anyway, and
-- the table's trigger wakes the feed at commit (migration 0007, runtime/feed.py).

-- name: insert_pending_purchase
INSERT INTO orders.purchases (request_id, customer_id, disc_id, quantity, customer_subject, recorded_by)
VALUES (%(request_id)s, %(customer_id)s, %(disc_id)s, %(quantity)s, %(customer_subject)s, %(recorded_by)s)
ON CONFLICT (customer_id, recorded_by, request_id) DO NOTHING
RETURNING *;

-- name: insert_pending_purchases
-- insert_pending_purchase for many in one statement (one commit): the new ones are returned, a
-- request id used before (or twice in the batch) is left out for the caller to read.
INSERT INTO orders.purchases (request_id, customer_id, disc_id, quantity, customer_subject, recorded_by)
SELECT * FROM unnest(%(request_ids)s::uuid[], %(customer_ids)s::uuid[], %(disc_ids)s::uuid[],
                     %(quantities)s::integer[], %(customer_subjects)s::text[], %(recorded_bys)s::text[])
ON CONFLICT (customer_id, recorded_by, request_id) DO NOTHING
RETURNING *;

-- name: get_purchase_by_request_id
-- A request id is its customer's and its recorder's (migration 0006).
SELECT *
  FROM orders.purchases
 WHERE customer_id = %(customer_id)s AND recorded_by = %(recorded_by)s AND request_id = %(request_id)s;

-- name: get_purchase
SELECT * FROM orders.purchases WHERE id = %(id)s;

-- name: settle_purchase
-- Records the reservation's outcome on a pending purchase; a concurrent settler matches nothing.
WITH settled AS (
    UPDATE orders.purchases
       SET state = CASE WHEN %(granted)s THEN %(confirmed)s ELSE %(rejected)s END,
           effective = %(granted)s,
           unit_price_cents = %(unit_price_cents)s,
           total_cents = %(unit_price_cents)s * quantity,
           currency = %(currency)s,
           update_time = now()
     WHERE id = %(id)s
       AND state = %(pending)s
    RETURNING *
), logged AS (
    INSERT INTO orders.events (aggregate_id, type, payload)
    SELECT id, 'purchase.' || state, jsonb_build_object('purchase', to_jsonb(settled)) FROM settled
)
SELECT * FROM settled;

-- name: settle_purchases
-- settle_purchase for many in one statement (one commit); those no longer pending are left out.
WITH settled AS (
    UPDATE orders.purchases p
       SET state = CASE WHEN s.granted THEN %(confirmed)s ELSE %(rejected)s END,
           effective = s.granted,
           unit_price_cents = s.unit_price_cents,
           total_cents = s.unit_price_cents * p.quantity,
           currency = s.currency,
           update_time = now()
      FROM unnest(%(ids)s::uuid[], %(granted)s::boolean[], %(unit_price_cents)s::bigint[], %(currencies)s::text[])
           AS s(id, granted, unit_price_cents, currency)
     WHERE p.id = s.id
       AND p.state = %(pending)s
    RETURNING p.*
), logged AS (
    INSERT INTO orders.events (aggregate_id, type, payload)
    SELECT id, 'purchase.' || state, jsonb_build_object('purchase', to_jsonb(settled)) FROM settled
)
SELECT * FROM settled;

-- name: start_failure
-- Decides that a pending purchase can never settle: from here no settlement can confirm it, and
-- what is left is to give back its reservation (if any) and finish the failure, with attempts of
-- its own.
UPDATE orders.purchases
   SET state = %(failing)s,
       failure_reason = %(reason)s,
       attempts = 0,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(pending)s
RETURNING *;

-- name: finish_failure
WITH failed AS (
    UPDATE orders.purchases
       SET state = %(failed)s,
           update_time = now()
     WHERE id = %(id)s
       AND state = %(failing)s
    RETURNING *
), logged AS (
    INSERT INTO orders.events (aggregate_id, type, payload)
    SELECT id, 'purchase.failed', jsonb_build_object('purchase', to_jsonb(failed)) FROM failed
)
SELECT * FROM failed;

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
-- Its units are given back next, with attempts of its own.
UPDATE orders.purchases
   SET state = %(cancelling)s,
       attempts = 0,
       update_time = now()
 WHERE id = %(id)s
   AND state = %(confirmed)s
RETURNING *;

-- name: finish_cancellation
WITH cancelled AS (
    UPDATE orders.purchases
       SET state = %(cancelled)s,
           cancel_time = now(),
           update_time = now()
     WHERE id = %(id)s
       AND state = %(cancelling)s
    RETURNING *
), logged AS (
    INSERT INTO orders.events (aggregate_id, type, payload)
    SELECT id, 'purchase.cancelled', jsonb_build_object('purchase', to_jsonb(cancelled)) FROM cancelled
)
SELECT * FROM cancelled;

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
-- Those another replica's recovery loop holds a live lease on are its own: left out, so that they
-- do not use up this round's limit. So are a cancelling or failing purchase whose units could not
-- be given back in max_attempts rounds: it waits for an operator (a pending one fails at its last).
SELECT *
  FROM orders.purchases
 WHERE state IN (%(pending)s, %(cancelling)s, %(failing)s)
   AND (state = %(pending)s OR attempts < %(max_attempts)s)
   AND update_time < now() - make_interval(secs => %(older_than_seconds)s)
   AND NOT EXISTS (SELECT 1 FROM orders.recovery_leases lease
                    WHERE lease.purchase_id = purchases.id AND lease.leased_until > now())
 ORDER BY update_time
 LIMIT %(limit)s;

-- name: lease_purchase
-- Takes the recovery lease on one unfinished purchase and returns the purchase as it is now, or
-- nothing when another replica holds a live lease on it or it is finished. One statement, so one
-- transaction: two replicas taking the same lease meet on the lease's primary key, the second
-- waits for the first to commit, then finds its lease live and updates nothing.
WITH lease AS (
    INSERT INTO orders.recovery_leases AS held (purchase_id, leased_until, leased_by)
    SELECT id, now() + make_interval(secs => %(lease_seconds)s), %(leased_by)s
      FROM orders.purchases
     WHERE id = %(id)s AND state IN (%(pending)s, %(cancelling)s, %(failing)s)
    ON CONFLICT (purchase_id) DO UPDATE
       SET leased_until = EXCLUDED.leased_until, leased_by = EXCLUDED.leased_by
     WHERE held.leased_until <= now()
    RETURNING purchase_id
)
SELECT purchases.*
  FROM orders.purchases JOIN lease ON lease.purchase_id = purchases.id
 WHERE state IN (%(pending)s, %(cancelling)s, %(failing)s);

-- name: release_purchase_lease
DELETE FROM orders.recovery_leases WHERE purchase_id = %(id)s AND leased_by = %(leased_by)s;

-- name: recovery_backlog
-- What the recovery loop has left to do, for the metrics: read once per round (the partial index
-- purchases_unfinished holds exactly these rows), never per scrape.
SELECT count(*) AS purchases,
       coalesce(extract(epoch FROM now() - min(create_time)), 0)::float8 AS oldest_seconds
  FROM orders.purchases
 WHERE state IN (%(pending)s, %(cancelling)s, %(failing)s);
