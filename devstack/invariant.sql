-- Read by devstack/invariant.py, as a superuser: each query reads one service's schema only.
-- States are parameters named after them, given from the services' own enums.

-- name: disc_stock
SELECT id::text AS disc_id, initial_stock, restocked, stock
  FROM catalog.discs
 WHERE %(disc_ids)s::uuid[] IS NULL OR id = ANY (%(disc_ids)s::uuid[]);

-- name: units_held_by_reservations
SELECT disc_id::text AS disc_id, sum(quantity) AS units
  FROM catalog.reservations
 WHERE state = %(granted)s
 GROUP BY disc_id;

-- name: units_sold
-- Only effective purchases took units; a failed one (never effective) had its reservation released.
SELECT disc_id::text AS disc_id, sum(quantity) AS units
  FROM orders.purchases
 WHERE effective AND state <> %(cancelled)s
 GROUP BY disc_id;

-- name: unfinished_purchases
SELECT state, count(*) AS purchases, min(update_time) AS oldest
  FROM orders.purchases
 WHERE state = ANY (%(unfinished)s)
 GROUP BY state;
