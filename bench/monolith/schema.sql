-- The monolith's own tables, filled from the benchmark's seeded customers and discs, so that it
-- buys the same (customer, disc) pairs from the same PostgreSQL without touching the services'
-- schemas (their invariant check stays theirs).

-- name: create_schema
DROP SCHEMA IF EXISTS monolith CASCADE;
CREATE SCHEMA monolith;
CREATE TABLE monolith.clientes (
    id     uuid    PRIMARY KEY,
    nome   text    NOT NULL,
    email  text    NOT NULL,
    ativo  boolean NOT NULL DEFAULT true
);
CREATE TABLE monolith.discos (
    id          uuid    PRIMARY KEY,
    titulo      text    NOT NULL,
    preco_cents bigint  NOT NULL,
    estoque     integer NOT NULL
);
CREATE TABLE monolith.compras (
    id          bigserial   PRIMARY KEY,
    cliente_id  uuid        NOT NULL REFERENCES monolith.clientes (id),
    disco_id    uuid        NOT NULL REFERENCES monolith.discos (id),
    quantidade  integer     NOT NULL,
    total_cents bigint      NOT NULL,
    efetivada   boolean     NOT NULL,
    criada_em   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON monolith.compras (cliente_id);

-- name: copy_customers
INSERT INTO monolith.clientes (id, nome, email)
SELECT id, name, email FROM customers.customers WHERE id = ANY(%(ids)s::uuid[]);

-- name: copy_discs
INSERT INTO monolith.discos (id, titulo, preco_cents, estoque)
SELECT id, title, price_cents, stock FROM catalog.discs WHERE id = ANY(%(ids)s::uuid[]);

-- name: count_purchases
SELECT count(*) AS purchases, count(*) FILTER (WHERE efetivada) AS effective FROM monolith.compras;
