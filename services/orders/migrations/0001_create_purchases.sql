-- A purchase is recorded as 'pending' before stock is reserved for it, and the reservation is
-- keyed by the purchase id. Whatever dies midway, the row says what is left to do, and a retry
-- (same request_id) or the recovery loop finishes it: stock is never taken without a purchase.
CREATE TABLE orders.purchases (
    id               uuid        PRIMARY KEY DEFAULT uuidv7(),
    request_id       uuid        NOT NULL UNIQUE,
    customer_id      uuid        NOT NULL,  -- customers service's id; no cross-schema key
    disc_id          uuid        NOT NULL,  -- catalog service's id; no cross-schema key
    quantity         integer     NOT NULL CHECK (quantity > 0),
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'confirmed', 'rejected', 'cancelling', 'cancelled')),
    effective        boolean     NOT NULL DEFAULT false,
    unit_price_cents bigint      CHECK (unit_price_cents >= 0),
    total_cents      bigint      CHECK (total_cents >= 0),
    currency         char(3),
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now(),
    cancel_time      timestamptz,
    -- effective exactly when stock was taken (and, once cancelled, given back).
    CHECK (effective = (state IN ('confirmed', 'cancelling', 'cancelled'))),
    CHECK ((state = 'pending') = (unit_price_cents IS NULL)),
    CHECK ((state = 'cancelled') = (cancel_time IS NOT NULL))
);

-- Listing newest first (a backward scan), all purchases or one customer's, within a time period.
CREATE INDEX purchases_create_time ON orders.purchases (create_time, id);
CREATE INDEX purchases_customer_create_time ON orders.purchases (customer_id, create_time, id);
-- The recovery loop's work list stays small: only unfinished purchases are indexed.
CREATE INDEX purchases_unfinished ON orders.purchases (update_time) WHERE state IN ('pending', 'cancelling');
