-- The catalog service's change feed (issue 24; docs/feed.md): a transactional outbox. Each
-- statement that makes a change below inserts its event here itself (queries.sql, a CTE reading
-- the change's RETURNING), so an event commits exactly when its change does, and never without it.
-- Events: a disc created, and every change of its stock (reserved for a purchase, released
-- by a cancellation or a failure, restocked). A rejected reservation changes nothing: no event.
CREATE TABLE catalog.events (
    -- The event's position in the feed, which its cursor carries. Drawn inside the statement that
    -- makes the change, after it holds the changed row's lock: one disc's events are in the
    -- order of its changes. Positions are not commit order across discs (a later commit may
    -- hold a smaller one): runtime/feed.py hands a position out only once every transaction that
    -- could still commit a smaller one has ended.
    id             bigint      GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME catalog.events_id_seq) PRIMARY KEY,
    -- Debezium's outbox event router routes on these columns (docs/feed.md).
    aggregate_type text        NOT NULL DEFAULT 'disc' CHECK (aggregate_type = 'disc'),
    aggregate_id   uuid        NOT NULL,
    type           text        NOT NULL CHECK (type IN ('disc.created', 'disc.stock_reserved', 'disc.stock_released', 'disc.restocked')),
    -- {"disc": the discs row as the change left it, and for a stock change "quantity" (the
    -- units it moved) and "reservation_id" (the purchase's, for a reservation or its release)}
    payload        jsonb       NOT NULL,
    -- When the change was written, just before its commit (clock_timestamp, not the transaction's start).
    create_time    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- How far retention has deleted (runtime/feed.py purges the oldest events): a cursor before it
-- has missed events, and is refused as expired rather than answered with a silent gap.
CREATE TABLE catalog.events_purged (
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    through bigint  NOT NULL DEFAULT 0
);
INSERT INTO catalog.events_purged DEFAULT VALUES;

-- Wakes the feed's listeners (LISTEN catalog_events) when the inserting transaction commits,
-- and never when it rolls back: PostgreSQL delivers a NOTIFY at commit. A trigger, so that no
-- statement writing an event can forget it; per row, since PostgreSQL folds a transaction's
-- equal notifications into one, and a statement-level trigger would fire for none inserted too.
CREATE FUNCTION catalog.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON catalog.events
    FOR EACH ROW EXECUTE FUNCTION catalog.notify_events();
