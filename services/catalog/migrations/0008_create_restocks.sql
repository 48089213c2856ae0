-- A restock is not idempotent (each call adds units), so one sent with a request id (the
-- Idempotency-Key header) is recorded under it: a retry finds the row and adds nothing. Restocks
-- sent without one are not recorded here (discs.restocked counts every unit that came in).
CREATE TABLE catalog.restocks (
    request_id  uuid        PRIMARY KEY,
    disc_id     uuid        NOT NULL REFERENCES catalog.discs (id),
    quantity    integer     NOT NULL CHECK (quantity > 0),
    create_time timestamptz NOT NULL DEFAULT now()
);
