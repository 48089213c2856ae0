-- Creates the record store's database (idempotent), run as a superuser against any database:
--   psql -v ON_ERROR_STOP=1 -f db/create_database.sql
-- The builtin C.UTF-8 locale gives Unicode case mapping whatever the server's own locale is:
-- without it a server initialised with the C locale finds "João" with ILIKE 'JOÃO' never, and
-- the trigram index (which lower-cases with the database's locale) would miss it too.
SELECT 'CREATE DATABASE recordstore TEMPLATE template0 ENCODING ''UTF8'''
       ' LOCALE_PROVIDER builtin BUILTIN_LOCALE ''C.UTF-8'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'recordstore')
\gexec
