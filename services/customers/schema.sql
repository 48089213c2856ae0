-- The customers schema as its migrations build it (pg_dump --schema-only, normalised by
-- tests/schema.py). Generated: change a migration, then run `.venv/bin/python -m tests.schema`.

CREATE SCHEMA customers;

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

CREATE TABLE customers.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY customers.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY customers.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE UNIQUE INDEX customers_email_key ON customers.customers USING btree (lower(email));

CREATE UNIQUE INDEX customers_signer_request_key ON customers.customers USING btree (request_id, subject) NULLS NOT DISTINCT WHERE (request_id IS NOT NULL);

CREATE UNIQUE INDEX customers_subject_key ON customers.customers USING btree (subject);
