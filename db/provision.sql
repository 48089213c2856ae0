-- Gives each service its own role and its own schema, and nothing else. Run once per database
-- as a superuser (idempotent):
--   psql -v ON_ERROR_STOP=1 -v customers_password=... -v catalog_password=... \
--        -v orders_password=... -f db/provision.sql
-- Each service then creates its tables itself, through its own migrations, as its own role.
-- A role has no rights on another service's schema: no cross-schema reads, joins or keys.

SELECT format('CREATE ROLE %I LOGIN', name)
  FROM unnest(ARRAY['customers', 'catalog', 'orders']) AS name
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name)
\gexec

ALTER ROLE customers PASSWORD :'customers_password';
ALTER ROLE catalog PASSWORD :'catalog_password';
ALTER ROLE orders PASSWORD :'orders_password';

CREATE SCHEMA IF NOT EXISTS customers AUTHORIZATION customers;
CREATE SCHEMA IF NOT EXISTS catalog AUTHORIZATION catalog;
CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION orders;

-- Nobody but a schema's owner creates objects, in public least of all.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The catalog's partial, case-insensitive search uses a trigram index (pg_trgm) that also holds
-- genre and year (btree_gin); creating an extension needs this superuser, using it does not.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public;
