-- A reservation is the record of one ReserveStock call, keyed by the caller's id, so that a
-- repeated call returns the first outcome instead of taking stock again.
CREATE TABLE catalog.reservations (
    id               uuid        PRIMARY KEY,
    disc_id          uuid        NOT NULL REFERENCES catalog.discs (id),
    quantity         integer     NOT NULL CHECK (quantity > 0),
    state            text        NOT NULL CHECK (state IN ('granted', 'rejected', 'released')),
    unit_price_cents bigint      NOT NULL CHECK (unit_price_cents >= 0),
    currency         char(3)     NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now(),
    release_time     timestamptz,
    CHECK ((state = 'released') = (release_time IS NOT NULL))
);

CREATE INDEX reservations_disc_id ON catalog.reservations (disc_id);
