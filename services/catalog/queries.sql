-- Named queries of the catalog service; each name is a method of CatalogRepository.
-- A reservation's states are parameters named after them (%(granted)s is ReservationState.GRANTED).
-- A statement that creates a disc or changes its stock writes its event into catalog.events
-- itself, from the change's RETURNING (the `logged` CTEs): the change and its event commit
-- together or not at all, in the round trip the change took anyway, and the table's trigger
-- wakes the feed at commit (migration 0009, runtime/feed.py).

-- name: create_disc
WITH created AS (
    INSERT INTO catalog.discs
           (request_id, title, artist, genre, release_year, price_cents, currency, stock, initial_stock)
    VALUES (%(request_id)s, %(title)s, %(artist)s, %(genre)s, %(release_year)s, %(price_cents)s,
            %(currency)s, %(stock)s, %(stock)s)
    ON CONFLICT (request_id) DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO catalog.events (aggregate_id, type, payload)
    SELECT id, 'disc.created', jsonb_build_object('disc', to_jsonb(created)) FROM created
)
SELECT * FROM created;

-- name: get_disc_by_request_id
SELECT * FROM catalog.discs WHERE request_id = %(request_id)s;

-- name: get_disc
SELECT * FROM catalog.discs WHERE id = %(id)s;

-- name: list_discs
-- psycopg2 sends the values inline, so the planner folds away the filters that are NULL and
-- picks the index of the ones that are set.
SELECT *
  FROM catalog.discs
 WHERE (%(artist)s::text IS NULL OR artist ILIKE %(artist)s)
   AND (%(title)s::text IS NULL OR title ILIKE %(title)s)
   AND (%(genre)s::text IS NULL OR lower(genre) = lower(%(genre)s))
   AND (%(release_year)s::integer IS NULL OR release_year = %(release_year)s)
   AND (%(after_id)s::uuid IS NULL OR id > %(after_id)s)
 ORDER BY id
 LIMIT %(limit)s;

-- name: restock_disc
-- The cap is a condition of the UPDATE, not a read before it: two restocks at once cannot both
-- fit in the same room. Written as stock <= max - quantity so that no sum can overflow integer.
-- Under a request id (NULL: none) it is done once, in one statement as reserve_stock is: the
-- units are added only when the id is new, and the id is recorded only when units were added (a
-- refused restock leaves it free for a retry). Two calls with the same id at once both pass the
-- NOT EXISTS (the same snapshot); the second INSERT then fails on the primary key, which undoes
-- its UPDATE too, and the caller reads the first. psycopg2 sends the values inline, so without an
-- id the planner folds the id's conditions away. No row: the disc does not exist, the units do
-- not fit, or the id was used before.
WITH added AS (
    UPDATE catalog.discs
       SET stock = stock + %(quantity)s,
           restocked = restocked + %(quantity)s,
           update_time = now()
     WHERE id = %(id)s
       AND stock <= %(max_stock)s - %(quantity)s
       AND (%(request_id)s::uuid IS NULL
            OR NOT EXISTS (SELECT 1 FROM catalog.restocks WHERE request_id = %(request_id)s))
    RETURNING *
), recorded AS (
    INSERT INTO catalog.restocks (request_id, disc_id, quantity)
    SELECT %(request_id)s, id, %(quantity)s FROM added WHERE %(request_id)s::uuid IS NOT NULL
), logged AS (
    INSERT INTO catalog.events (aggregate_id, type, payload)
    SELECT id, 'disc.restocked', jsonb_build_object('disc', to_jsonb(added), 'quantity', %(quantity)s)
      FROM added
)
SELECT * FROM added;

-- name: get_restock
SELECT * FROM catalog.restocks WHERE request_id = %(request_id)s;

-- name: reserve_stock
-- One statement takes the units (a conditional UPDATE: never read-then-write) and records the
-- outcome. A reservation id seen before fails the INSERT on the primary key, which also undoes a
-- decrement made by a concurrent duplicate; the caller then reads the first outcome.
WITH taken AS (
    UPDATE catalog.discs
       SET stock = stock - %(quantity)s,
           update_time = now()
     WHERE id = %(disc_id)s
       AND stock >= %(quantity)s
       AND NOT EXISTS (SELECT 1 FROM catalog.reservations WHERE id = %(reservation_id)s)
    RETURNING *
), logged AS (
    INSERT INTO catalog.events (aggregate_id, type, payload)
    SELECT id, 'disc.stock_reserved',
           jsonb_build_object('disc', to_jsonb(taken), 'quantity', %(quantity)s,
                              'reservation_id', %(reservation_id)s::uuid)
      FROM taken
)
INSERT INTO catalog.reservations (id, disc_id, quantity, state, unit_price_cents, currency)
SELECT %(reservation_id)s, d.id, %(quantity)s,
       CASE WHEN EXISTS (SELECT 1 FROM taken) THEN %(granted)s ELSE %(rejected)s END,
       d.price_cents, d.currency
  FROM catalog.discs d
 WHERE d.id = %(disc_id)s
RETURNING *;

-- name: lock_discs
-- A batch of reservations in several statements (layers) locks all of its discs first, in id
-- order, so that two batches touching the same discs queue instead of deadlocking.
SELECT id FROM catalog.discs WHERE id = ANY(%(disc_ids)s::uuid[]) ORDER BY id FOR UPDATE;

-- name: reserve_stocks
-- reserve_stock for many reservations in one statement, each on its own disc (the caller splits
-- a batch into layers of distinct discs and distinct ids). Only reservations whose id is new are
-- made and returned: the caller answers the others as reserve_stock would. A duplicate made
-- concurrently fails the INSERT on the primary key, which undoes the whole statement. The discs
-- are locked in id order before any is changed (LockRows under the Sort hands them out in that
-- order, and a disc is updated only once handed out), so two statements on the same discs queue
-- instead of deadlocking.
WITH asked AS (
    SELECT * FROM unnest(%(reservation_ids)s::uuid[], %(disc_ids)s::uuid[], %(quantities)s::integer[])
                  AS a(id, disc_id, quantity)
),
locked AS MATERIALIZED (
    SELECT id FROM catalog.discs WHERE id = ANY(%(disc_ids)s::uuid[]) ORDER BY id FOR UPDATE
),
fresh AS (
    SELECT a.* FROM asked a JOIN locked l ON l.id = a.disc_id
     WHERE NOT EXISTS (SELECT 1 FROM catalog.reservations r WHERE r.id = a.id)
),
taken AS (
    UPDATE catalog.discs d
       SET stock = d.stock - f.quantity,
           update_time = now()
      FROM fresh f
     WHERE d.id = f.disc_id
       AND d.stock >= f.quantity
    RETURNING d AS disc, f.id AS reservation_id, f.quantity
),
logged AS (
    INSERT INTO catalog.events (aggregate_id, type, payload)
    SELECT (disc).id, 'disc.stock_reserved',
           jsonb_build_object('disc', to_jsonb(disc), 'quantity', quantity, 'reservation_id', reservation_id)
      FROM taken
)
INSERT INTO catalog.reservations (id, disc_id, quantity, state, unit_price_cents, currency)
SELECT f.id, d.id, f.quantity,
       CASE WHEN f.id IN (SELECT reservation_id FROM taken) THEN %(granted)s ELSE %(rejected)s END,
       d.price_cents, d.currency
  FROM fresh f JOIN catalog.discs d ON d.id = f.disc_id
RETURNING *;

-- name: get_reservation
SELECT * FROM catalog.reservations WHERE id = %(reservation_id)s;

-- name: release_reservation
-- Only a granted reservation gives units back, and only once: a concurrent second release
-- re-checks state = 'granted' after the first commits and matches nothing. It is not held to
-- the stock cap: the units were on hand before, a restock may have filled the room since, and a
-- cancellation must not fail for that (stock then stays above the cap until sales bring it down,
-- and restocks wait until then).
WITH released AS (
    UPDATE catalog.reservations
       SET state = %(released)s,
           release_time = now()
     WHERE id = %(reservation_id)s
       AND state = %(granted)s
    RETURNING id, disc_id, quantity
), restored AS (
    UPDATE catalog.discs d
       SET stock = d.stock + r.quantity,
           update_time = now()
      FROM released r
     WHERE d.id = r.disc_id
    RETURNING d AS disc, r.id AS reservation_id, r.quantity
)
INSERT INTO catalog.events (aggregate_id, type, payload)
SELECT (disc).id, 'disc.stock_released',
       jsonb_build_object('disc', to_jsonb(disc), 'quantity', quantity, 'reservation_id', reservation_id)
  FROM restored;
