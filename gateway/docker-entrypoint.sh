#!/bin/sh
# Fills in envoy.yaml's placeholders from the environment, then runs Envoy: the container's
# counterpart of devstack/gateway.py. A placeholder without a value stops the start.
set -eu
template=${ENVOY_TEMPLATE:-/etc/recordstore-gateway/envoy.yaml}
config=${ENVOY_CONFIG:-/tmp/envoy.yaml}
cp "$template" "$config"
for name in LISTEN_HOST LISTEN_PORT ADMIN_PORT DESCRIPTOR_PATH \
            CUSTOMERS_HOST CUSTOMERS_PORT CATALOG_HOST CATALOG_PORT ORDERS_HOST ORDERS_PORT; do
  eval "value=\${$name:?$name must be set}"
  sed -i "s|\${$name}|$value|g" "$config"
done
if grep -q '\${' "$config"; then
  echo "unfilled placeholders in $template:" >&2
  grep -o '\${[A-Z_]*}' "$config" | sort -u >&2
  exit 1
fi
exec envoy -c "$config" --log-level "${LOG_LEVEL:-warn}" "$@"
