#!/bin/sh
# Run once by the official postgres image on an empty volume (docker-entrypoint-initdb.d):
# the record store's database, then each service's role and schema. Passwords come from the
# environment; nothing else is created here (each service migrates its own schema at start).
set -eu
here=${RECORDSTORE_DB_DIR:-/recordstore-db}
# <ROLE>_DB_PASSWORD_FILE (compose's init step writes them) stands for <ROLE>_DB_PASSWORD.
for role in CUSTOMERS CATALOG ORDERS; do
  eval "file=\${${role}_DB_PASSWORD_FILE:-}"
  if [ -n "$file" ]; then eval "${role}_DB_PASSWORD=\$(cat \"\$file\")"; fi
done
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres -f "$here/create_database.sql"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname recordstore \
     -v customers_password="${CUSTOMERS_DB_PASSWORD:?}" \
     -v catalog_password="${CATALOG_DB_PASSWORD:?}" \
     -v orders_password="${ORDERS_DB_PASSWORD:?}" \
     -f "$here/provision.sql"
