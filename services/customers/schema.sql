-- The customers schema as its migrations build it (pg_dump --schema-only, normalised by
-- tests/schema.py). Generated: change a migration, then run `.venv/bin/python -m tests.schema`.

CREATE SCHEMA customers;

CREATE FUNCTION customers.notify_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('customers_events', '');
    RETURN NULL;
END
$$;

CREATE TABLE customers.customers (
    id uuid DEFAULT uuidv7() NOT NULL,
    request_id uuid,
    name text NOT NULL,
    email text NOT NULL,
    document text,
    phone text,
    state text DEFAULT 'active'::text NOT NULL,
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    deactivate_time timestamp with time zone,
    subject text,
    CONSTRAINT customers_check CHECK (((state = 'deactivated'::text) = (deactivate_time IS NOT NULL))),
    CONSTRAINT customers_state_check CHECK ((state = ANY (ARRAY['active'::text, 'deactivated'::text])))
);

CREATE TABLE customers.events (
    id bigint NOT NULL,
    aggregate_type text DEFAULT 'customer'::text NOT NULL,
    aggregate_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    create_time timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT events_aggregate_type_check CHECK ((aggregate_type = 'customer'::text)),
    CONSTRAINT events_type_check CHECK ((type = ANY (ARRAY['customer.created'::text, 'customer.deactivated'::text])))
);

ALTER TABLE customers.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME customers.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE customers.events_purged (
    one_row boolean DEFAULT true NOT NULL,
    through bigint DEFAULT 0 NOT NULL,
    CONSTRAINT events_purged_one_row_check CHECK (one_row)
);

CREATE TABLE customers.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY customers.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY customers.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY customers.events_purged
    ADD CONSTRAINT events_purged_pkey PRIMARY KEY (one_row);

ALTER TABLE ONLY customers.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE UNIQUE INDEX customers_email_key ON customers.customers USING btree (lower(email));

CREATE UNIQUE INDEX customers_signer_request_key ON customers.customers USING btree (request_id, subject) NULLS NOT DISTINCT WHERE (request_id IS NOT NULL);

CREATE UNIQUE INDEX customers_subject_key ON customers.customers USING btree (subject);

CREATE TRIGGER events_notify AFTER INSERT ON customers.events FOR EACH ROW EXECUTE FUNCTION customers.notify_events();
