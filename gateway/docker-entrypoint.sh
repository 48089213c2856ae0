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
# Limits a deployment may set (docs/edge.md, "Limits"), with devstack/gateway.GatewayLimits' defaults.
: "${MAX_CONNECTIONS:=4096}" "${JWKS_REFRESH_SECONDS:=10}" "${SIGN_UPS_PER_ADDRESS:=30}" "${JWKS_PORT:=9902}"
positive() {
  eval "value=\$$1"
  case "$value" in ''|*[!0-9]*|0*) echo "$1 must be a positive whole number" >&2; exit 1 ;; esac
}
positive MAX_CONNECTIONS; positive JWKS_REFRESH_SECONDS; positive SIGN_UPS_PER_ADDRESS; positive JWKS_PORT
# Envoy serves itself the JWKS (on loopback, JWKS_PORT) from the file's directory, by its name.
if [ -n "${AUTH_JWKS_PATH:-}" ]; then
  AUTH_JWKS_DIR=$(dirname "$AUTH_JWKS_PATH")
  AUTH_JWKS_NAME=$(basename "$AUTH_JWKS_PATH")
  export AUTH_JWKS_DIR AUTH_JWKS_NAME
fi
export MAX_CONNECTIONS JWKS_REFRESH_SECONDS SIGN_UPS_PER_ADDRESS JWKS_PORT
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
            CORS_ORIGIN_REGEX CORS_ALLOW_CREDENTIALS AUTH_ISSUER AUTH_AUDIENCE AUTH_JWKS_PATH AUTH_JWKS_DIR AUTH_JWKS_NAME \
            TLS_CA_PATH TLS_CERT_PATH TLS_KEY_PATH TLS_TRUST_DOMAIN \
            MAX_CONNECTIONS JWKS_REFRESH_SECONDS SIGN_UPS_PER_ADDRESS JWKS_PORT; do
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
