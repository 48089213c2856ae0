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

-- Each role is held to what its service needs (devstack/postgres.py names the same values):
-- a statement runs at most 5 s (a purchase's take milliseconds; a stuck one must not hold locks
-- and connections; migrations lift it for their own transaction); a transaction idles at most
-- 10 s between its statements (one that stalls holds its locks); at most 40 connections (two
-- replicas' pools of 16, and slack), so one role cannot take the server's 100 from the others.
-- A role holding its password can change its own settings (ALTER ROLE self SET ...), so the
-- services also ask for both limits at connect (services/runtime/config.py), which no role
-- setting overrides; these cover every other connection of the role (migrations, psql).
ALTER ROLE customers CONNECTION LIMIT 40;
ALTER ROLE catalog CONNECTION LIMIT 40;
ALTER ROLE orders CONNECTION LIMIT 40;
ALTER ROLE customers SET statement_timeout = '5s';
ALTER ROLE catalog SET statement_timeout = '5s';
ALTER ROLE orders SET statement_timeout = '5s';
ALTER ROLE customers SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE catalog SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE orders SET idle_in_transaction_session_timeout = '10s';

-- The services' roles connect to this database only (not `postgres`, not `template1`), and create
-- no temporary tables: nothing they do needs one, and they are a way around the schemas' rights.
REVOKE CONNECT, TEMPORARY ON DATABASE recordstore FROM PUBLIC;
GRANT CONNECT ON DATABASE recordstore TO customers, catalog, orders;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS customers AUTHORIZATION customers;
CREATE SCHEMA IF NOT EXISTS catalog AUTHORIZATION catalog;
CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION orders;

-- Nobody but a schema's owner creates objects, in public least of all.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The catalog's partial, case-insensitive search uses a trigram index (pg_trgm) that also holds
-- genre and year (btree_gin); creating an extension needs this superuser, using it does not.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public;
