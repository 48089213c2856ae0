-- Discs and their stock. initial_stock and restocked are kept so that stock can always be
-- checked against the purchases that took units from it (see devstack/invariant.py).
CREATE TABLE catalog.discs (
    id            uuid        PRIMARY KEY DEFAULT uuidv7(),  -- time-ordered: id order = creation order
    request_id    uuid        UNIQUE,
    title         text        NOT NULL,
    artist        text        NOT NULL,
    genre         text        NOT NULL,
    release_year  integer     NOT NULL CHECK (release_year BETWEEN 1000 AND 9999),
    price_cents   bigint      NOT NULL CHECK (price_cents >= 0),
    currency      char(3)     NOT NULL,
    stock         integer     NOT NULL CHECK (stock >= 0),
    initial_stock integer     NOT NULL CHECK (initial_stock >= 0),
    restocked     bigint      NOT NULL DEFAULT 0 CHECK (restocked >= 0),
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now()
);

-- Partial, case-insensitive search on artist and title (ILIKE '%...%') needs trigram indexes.
CREATE INDEX discs_artist_trgm ON catalog.discs USING gin (artist gin_trgm_ops);
CREATE INDEX discs_title_trgm ON catalog.discs USING gin (title gin_trgm_ops);
-- Exact filters, ordered like the listing so a page is an index range.
CREATE INDEX discs_genre_id ON catalog.discs (lower(genre), id);
CREATE INDEX discs_release_year_id ON catalog.discs (release_year, id);
