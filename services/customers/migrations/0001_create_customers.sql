-- Customers are never deleted: deactivation sets state and deactivate_time and keeps the row.
CREATE TABLE customers.customers (
    id              uuid        PRIMARY KEY DEFAULT uuidv7(),  -- time-ordered: id order = creation order
    request_id      uuid        UNIQUE,
    name            text        NOT NULL,
    email           text        NOT NULL,
    document        text,
    phone           text,
    state           text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
    create_time     timestamptz NOT NULL DEFAULT now(),
    deactivate_time timestamptz,
    CHECK ((state = 'deactivated') = (deactivate_time IS NOT NULL))
);

-- One customer per email address, whatever its case.
CREATE UNIQUE INDEX customers_email_key ON customers.customers (lower(email));
