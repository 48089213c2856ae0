-- The orders service's change feed (issue 24; docs/feed.md): a transactional outbox. Each
-- statement that makes a change below inserts its event here itself (queries.sql, a CTE reading
-- the change's RETURNING), so an event commits exactly when its change does, and never without it.
-- Events: a purchase settled (confirmed, rejected), failed, cancelled: its final states.
CREATE TABLE orders.events (
    -- The event's position in the feed, which its cursor carries. Drawn inside the statement that
    -- makes the change, after it holds the changed row's lock: one purchase's events are in the
    -- order of its changes. Positions are not commit order across purchases (a later commit may
    -- hold a smaller one): runtime/feed.py hands a position out only once every transaction that
    -- could still commit a smaller one has ended.
    id             bigint      GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME orders.events_id_seq) PRIMARY KEY,
    -- Debezium's outbox event router routes on these columns (docs/feed.md).
    aggregate_type text        NOT NULL DEFAULT 'purchase' CHECK (aggregate_type = 'purchase'),
    aggregate_id   uuid        NOT NULL,
    type           text        NOT NULL CHECK (type IN ('purchase.confirmed', 'purchase.rejected', 'purchase.failed', 'purchase.cancelled')),
    -- {"purchase": the purchases row as the change left it}
    payload        jsonb       NOT NULL,
    -- When the change was written, just before its commit (clock_timestamp, not the transaction's start).
    create_time    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- How far retention has deleted (runtime/feed.py purges the oldest events): a cursor before it
-- has missed events, and is refused as expired rather than answered with a silent gap.
CREATE TABLE orders.events_purged (
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    through bigint  NOT NULL DEFAULT 0
);
INSERT INTO orders.events_purged DEFAULT VALUES;

-- Wakes the feed's listeners (LISTEN orders_events) when the inserting transaction commits,
-- and never when it rolls back: PostgreSQL delivers a NOTIFY at commit. A trigger, so that no
-- statement writing an event can forget it; per row, since PostgreSQL folds a transaction's
-- equal notifications into one, and a statement-level trigger would fire for none inserted too.
CREATE FUNCTION orders.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orders_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON orders.events
    FOR EACH ROW EXECUTE FUNCTION orders.notify_events();
