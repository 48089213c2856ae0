#!/bin/sh
# Fills in envoy.yaml's placeholders from the environment, then runs Envoy: the container's
# counterpart of devstack/gateway.py. A placeholder without a value stops the start.
set -eu
template=${ENVOY_TEMPLATE:-/etc/recordstore-gateway/envoy.yaml}
config=${ENVOY_CONFIG:-/tmp/envoy.yaml}
cp "$template" "$config"
# Browsers: development origins on this host unless CORS_ORIGIN_REGEX (a RE2 regex of whole
# origins, e.g. 'https://shop\.example\.com') says otherwise; credentials only when asked for.
[ -n "${CORS_ORIGIN_REGEX:-}" ] || CORS_ORIGIN_REGEX='https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?'
: "${CORS_ALLOW_CREDENTIALS:=false}"
case "$CORS_ALLOW_CREDENTIALS" in true|false) ;; *) echo "CORS_ALLOW_CREDENTIALS must be true or false" >&2; exit 1 ;; esac
case "$CORS_ORIGIN_REGEX" in *"'"*) echo "CORS_ORIGIN_REGEX must not contain a quote" >&2; exit 1 ;; esac
export CORS_ORIGIN_REGEX CORS_ALLOW_CREDENTIALS
sep=$(printf '\001')
# Tracing: spans to the OTLP/gRPC collector at OTEL_COLLECTOR_ADDR (host:port); unset, the block goes.
if [ -n "${OTEL_COLLECTOR_ADDR:-}" ]; then
  value=$(printf '%s' "$OTEL_COLLECTOR_ADDR" | sed 's/[\\&]/\\&/g')
  sed -i "s${sep}\${OTEL_COLLECTOR_ADDR}${sep}${value}${sep}g" "$config"
else
  sed -i '/# tracing begin/,/# tracing end/d' "$config"
fi
for name in LISTEN_HOST LISTEN_PORT ADMIN_PORT DESCRIPTOR_PATH \
            CUSTOMERS_HOST CUSTOMERS_PORT CATALOG_HOST CATALOG_PORT ORDERS_HOST ORDERS_PORT \
            CORS_ORIGIN_REGEX CORS_ALLOW_CREDENTIALS AUTH_ISSUER AUTH_AUDIENCE AUTH_JWKS_PATH \
            TLS_CA_PATH TLS_CERT_PATH TLS_KEY_PATH TLS_TRUST_DOMAIN; do
  eval "value=\${$name:?$name must be set}"
  # The value as sed's replacement text: backslashes and & stand for themselves.
  value=$(printf '%s' "$value" | sed 's/[\\&]/\\&/g')
  sed -i "s${sep}\${$name}${sep}${value}${sep}g" "$config"
done
if grep -q '\${' "$config"; then
  echo "unfilled placeholders in $template:" >&2
  grep -o '\${[A-Z_]*}' "$config" | sort -u >&2
  exit 1
fi
exec envoy -c "$config" --log-level "${LOG_LEVEL:-warn}" "$@"
