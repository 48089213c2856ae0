-- Named queries of a service's change feed (runtime/feed.py), on its own schema's outbox:
-- {events} is <schema>.events, {purged} <schema>.events_purged, {sequence} the events' id
-- sequence (the migrations NNNN_create_events.sql of each service).

-- name: horizon
-- One reading of the horizon, in one round trip (runtime/feed.py, Horizon):
-- - xmin: the oldest transaction running as the statement starts (its snapshot's): every
--   transaction id below it has ended, committed or rolled back;
-- - last: the last position any transaction has drawn, committed or not (a sequence is not
--   transactional), read after the snapshot was taken;
-- - xid: when `last` is beyond %(newest)s (what was read before), a transaction id given after
--   `last` was read, to this statement's own transaction, which then commits: every transaction
--   that drew a position up to `last` had an id below it. Not the snapshot's xmax, which is the
--   newest ended transaction's id plus one: transactions given ids after that run unlisted;
-- - the events in (%(final)s, %(newest)s], as this snapshot sees them: those that this reading
--   makes final are all there (their transactions ended before it began), for the tail.
SELECT h.xmin, h.last, h.xid, e.id, e.type, e.aggregate_id, e.payload, e.create_time
  FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, s.last,
               CASE WHEN s.last > %(newest)s THEN pg_current_xact_id()::text END AS xid
          FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM {sequence}) s) h
  LEFT JOIN LATERAL (
      SELECT * FROM {events}
       WHERE id > %(final)s AND id <= %(newest)s
       ORDER BY id
       LIMIT %(limit)s
  ) e ON true;

-- name: last_position
-- The last position any transaction has drawn (for a cursor that looks beyond the end).
SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence};

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
