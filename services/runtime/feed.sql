-- Named queries of a service's change feed (runtime/feed.py), on its own schema's outbox:
-- {events} is <schema>.events, {purged} <schema>.events_purged, {sequence} the events' id
-- sequence (the migrations NNNN_create_events.sql of each service).

-- name: last_position
-- The last position any transaction has drawn, committed or not (a sequence is not
-- transactional), and the oldest transaction still running (the snapshot's xmin: every
-- transaction id below it has ended). The snapshot is taken as the statement starts, the sequence
-- read after it.
SELECT CASE WHEN is_called THEN last_value ELSE 0 END, pg_snapshot_xmin(pg_current_snapshot())::text
  FROM {sequence};

-- name: next_transaction
-- A transaction id given now (to this statement's own transaction, which then commits): every
-- transaction that drew a position before it was given one below it. Not the snapshot's xmax,
-- which is the newest ended transaction's id plus one: transactions given ids after that are
-- running too, and no snapshot lists them.
SELECT pg_current_xact_id()::text;

-- name: read_events
-- The events after a position, up to a position known final, in position order; and, in the same
-- snapshot, how far retention has deleted (a reader behind it has missed events). One row at
-- least: the purge horizon, with no event when there is none.
SELECT e.id, e.type, e.aggregate_id, e.payload, e.create_time, p.through AS purged_through
  FROM {purged} p
  LEFT JOIN LATERAL (
      SELECT * FROM {events}
       WHERE id > %(after)s AND id <= %(through)s
       ORDER BY id
       LIMIT %(limit)s
  ) e ON true;

-- name: purge_events
-- Deletes the oldest events, those older than %(before)s or beyond the newest %(keep)s positions,
-- as a prefix of the feed: from the first event up to the first one to keep, at most %(limit)s,
-- and at or below %(safe)s only (a position no transaction can still commit: runtime/feed.py).
-- Records how far it deleted, in the same statement.
WITH head AS (
    SELECT id, create_time FROM {events} WHERE id <= %(safe)s ORDER BY id LIMIT %(limit)s
), kept AS (
    SELECT min(id) AS id FROM head WHERE create_time >= %(before)s AND id > %(safe)s - %(keep)s
), cut AS (
    SELECT coalesce((SELECT id FROM kept) - 1, (SELECT max(id) FROM head)) AS through
), gone AS (
    DELETE FROM {events} WHERE id <= (SELECT through FROM cut) RETURNING id
)
UPDATE {purged}
   SET through = greatest(through, (SELECT max(id) FROM gone))
RETURNING (SELECT count(*) FROM gone);
