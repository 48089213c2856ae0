-- The catalog schema as its migrations build it (pg_dump --schema-only, normalised by
-- tests/schema.py). Generated: change a migration, then run `.venv/bin/python -m tests.schema`.

CREATE SCHEMA catalog;

CREATE FUNCTION catalog.notify_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('catalog_events', '');
    RETURN NULL;
END
$$;

CREATE TABLE catalog.discs (
    id uuid DEFAULT uuidv7() NOT NULL,
    request_id uuid,
    title text NOT NULL,
    artist text NOT NULL,
    genre text NOT NULL,
    release_year integer NOT NULL,
    price_cents bigint NOT NULL,
    currency character(3) NOT NULL,
    stock integer NOT NULL,
    initial_stock integer NOT NULL,
    restocked bigint DEFAULT 0 NOT NULL,
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    update_time timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT discs_initial_stock_check CHECK ((initial_stock >= 0)),
    CONSTRAINT discs_price_cents_check CHECK ((price_cents >= 0)),
    CONSTRAINT discs_price_cents_max CHECK ((price_cents <= '100000000000000'::bigint)),
    CONSTRAINT discs_release_year_check CHECK (((release_year >= 1000) AND (release_year <= 9999))),
    CONSTRAINT discs_restocked_check CHECK ((restocked >= 0)),
    CONSTRAINT discs_stock_came_in CHECK ((stock <= (initial_stock + restocked))),
    CONSTRAINT discs_stock_check CHECK ((stock >= 0))
);
ALTER TABLE ONLY catalog.discs ALTER COLUMN title SET STATISTICS 1000;
ALTER TABLE ONLY catalog.discs ALTER COLUMN artist SET STATISTICS 1000;

CREATE TABLE catalog.events (
    id bigint NOT NULL,
    aggregate_type text DEFAULT 'disc'::text NOT NULL,
    aggregate_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    create_time timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT events_aggregate_type_check CHECK ((aggregate_type = 'disc'::text)),
    CONSTRAINT events_type_check CHECK ((type = ANY (ARRAY['disc.created'::text, 'disc.stock_reserved'::text, 'disc.stock_released'::text, 'disc.restocked'::text])))
);

ALTER TABLE catalog.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME catalog.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE catalog.events_purged (
    one_row boolean DEFAULT true NOT NULL,
    through bigint DEFAULT 0 NOT NULL,
    CONSTRAINT events_purged_one_row_check CHECK (one_row)
);

CREATE TABLE catalog.reservations (
    id uuid NOT NULL,
    disc_id uuid NOT NULL,
    quantity integer NOT NULL,
    state text NOT NULL,
    unit_price_cents bigint NOT NULL,
    currency character(3) NOT NULL,
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    release_time timestamp with time zone,
    CONSTRAINT reservations_check CHECK (((state = 'released'::text) = (release_time IS NOT NULL))),
    CONSTRAINT reservations_quantity_check CHECK ((quantity > 0)),
    CONSTRAINT reservations_state_check CHECK ((state = ANY (ARRAY['granted'::text, 'rejected'::text, 'released'::text]))),
    CONSTRAINT reservations_unit_price_cents_check CHECK ((unit_price_cents >= 0))
);

CREATE TABLE catalog.restocks (
    request_id uuid NOT NULL,
    disc_id uuid NOT NULL,
    quantity integer NOT NULL,
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT restocks_quantity_check CHECK ((quantity > 0))
);

CREATE TABLE catalog.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY catalog.discs
    ADD CONSTRAINT discs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY catalog.discs
    ADD CONSTRAINT discs_request_id_key UNIQUE (request_id);

ALTER TABLE ONLY catalog.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY catalog.events_purged
    ADD CONSTRAINT events_purged_pkey PRIMARY KEY (one_row);

ALTER TABLE ONLY catalog.reservations
    ADD CONSTRAINT reservations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY catalog.restocks
    ADD CONSTRAINT restocks_pkey PRIMARY KEY (request_id);

ALTER TABLE ONLY catalog.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE INDEX discs_genre_id ON catalog.discs USING btree (lower(genre), id);

CREATE INDEX discs_genre_year_id ON catalog.discs USING btree (lower(genre), release_year, id);

CREATE INDEX discs_release_year_id ON catalog.discs USING btree (release_year, id);

CREATE INDEX discs_search ON catalog.discs USING gin (artist public.gin_trgm_ops, title public.gin_trgm_ops, lower(genre), release_year);

CREATE INDEX reservations_disc_id ON catalog.reservations USING btree (disc_id);

CREATE TRIGGER events_notify AFTER INSERT ON catalog.events FOR EACH ROW EXECUTE FUNCTION catalog.notify_events();

ALTER TABLE ONLY catalog.reservations
    ADD CONSTRAINT reservations_disc_id_fkey FOREIGN KEY (disc_id) REFERENCES catalog.discs(id);

ALTER TABLE ONLY catalog.restocks
    ADD CONSTRAINT restocks_disc_id_fkey FOREIGN KEY (disc_id) REFERENCES catalog.discs(id);
