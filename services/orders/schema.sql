-- The orders schema as its migrations build it (pg_dump --schema-only, normalised by
-- tests/schema.py). Generated: change a migration, then run `.venv/bin/python -m tests.schema`.

CREATE SCHEMA orders;

CREATE FUNCTION orders.notify_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('orders_events', '');
    RETURN NULL;
END
$$;

CREATE TABLE orders.events (
    id bigint NOT NULL,
    aggregate_type text DEFAULT 'purchase'::text NOT NULL,
    aggregate_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    create_time timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT events_aggregate_type_check CHECK ((aggregate_type = 'purchase'::text)),
    CONSTRAINT events_type_check CHECK ((type = ANY (ARRAY['purchase.confirmed'::text, 'purchase.rejected'::text, 'purchase.failed'::text, 'purchase.cancelled'::text])))
);

ALTER TABLE orders.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME orders.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE orders.events_purged (
    one_row boolean DEFAULT true NOT NULL,
    through bigint DEFAULT 0 NOT NULL,
    CONSTRAINT events_purged_one_row_check CHECK (one_row)
);

CREATE TABLE orders.purchases (
    id uuid DEFAULT uuidv7() NOT NULL,
    request_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    disc_id uuid NOT NULL,
    quantity integer NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    effective boolean DEFAULT false NOT NULL,
    unit_price_cents bigint,
    total_cents bigint,
    currency character(3),
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    update_time timestamp with time zone DEFAULT now() NOT NULL,
    cancel_time timestamp with time zone,
    failure_reason text,
    attempts integer DEFAULT 0 NOT NULL,
    customer_subject text,
    recorded_by text,
    CONSTRAINT purchases_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT purchases_check CHECK ((effective = (state = ANY (ARRAY['confirmed'::text, 'cancelling'::text, 'cancelled'::text])))),
    CONSTRAINT purchases_check2 CHECK (((state = 'cancelled'::text) = (cancel_time IS NOT NULL))),
    CONSTRAINT purchases_failure_has_reason CHECK (((state = ANY (ARRAY['failing'::text, 'failed'::text])) = (failure_reason IS NOT NULL))),
    CONSTRAINT purchases_priced_when_settled CHECK (((state = ANY (ARRAY['pending'::text, 'failing'::text, 'failed'::text])) = (unit_price_cents IS NULL))),
    CONSTRAINT purchases_quantity_check CHECK ((quantity > 0)),
    CONSTRAINT purchases_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'confirmed'::text, 'rejected'::text, 'cancelling'::text, 'cancelled'::text, 'failing'::text, 'failed'::text]))),
    CONSTRAINT purchases_total_cents_check CHECK ((total_cents >= 0)),
    CONSTRAINT purchases_unit_price_cents_check CHECK ((unit_price_cents >= 0))
);

CREATE TABLE orders.recovery_leases (
    purchase_id uuid NOT NULL,
    leased_until timestamp with time zone NOT NULL,
    leased_by text NOT NULL
);

CREATE TABLE orders.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY orders.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY orders.events_purged
    ADD CONSTRAINT events_purged_pkey PRIMARY KEY (one_row);

ALTER TABLE ONLY orders.purchases
    ADD CONSTRAINT purchases_customer_request_key UNIQUE NULLS NOT DISTINCT (customer_id, recorded_by, request_id);

ALTER TABLE ONLY orders.purchases
    ADD CONSTRAINT purchases_pkey PRIMARY KEY (id);

ALTER TABLE ONLY orders.recovery_leases
    ADD CONSTRAINT recovery_leases_pkey PRIMARY KEY (purchase_id);

ALTER TABLE ONLY orders.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE INDEX purchases_create_time ON orders.purchases USING btree (create_time, id);

CREATE INDEX purchases_customer_create_time ON orders.purchases USING btree (customer_id, create_time, id);

CREATE INDEX purchases_subject_create_time ON orders.purchases USING btree (customer_subject, create_time, id) WHERE (customer_subject IS NOT NULL);

CREATE INDEX purchases_unfinished ON orders.purchases USING btree (update_time) WHERE (state = ANY (ARRAY['pending'::text, 'cancelling'::text, 'failing'::text]));

CREATE TRIGGER events_notify AFTER INSERT ON orders.events FOR EACH ROW EXECUTE FUNCTION orders.notify_events();

ALTER TABLE ONLY orders.recovery_leases
    ADD CONSTRAINT recovery_leases_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES orders.purchases(id) ON DELETE CASCADE;
