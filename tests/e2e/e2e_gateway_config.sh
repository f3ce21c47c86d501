#!/usr/bin/env bash
# e2e_gateway_config.sh - upstreams come from configuration: every YW_UPSTREAM_<NAME> of
# the environment or of YW_CONFIG_FILE is an upstream (any number, beyond the catalog,
# identity and feed); `yw-gateway --check-routes` and the start refuse a route whose
# upstream is not configured, naming the route and the setting; a running gateway
# reports each configured upstream in /readyz.
source "$(dirname "$0")/lib.sh"

GWBIN="$YW_BUILD_DIR/gateway/yw-gateway"
OUT="$E2E_TMP/out"

# check_routes [VAR=VALUE...] -> the exit code of --check-routes; stdout and stderr in $OUT
check_routes() {
  local rc=0
  env "$@" "$GWBIN" --check-routes >"$OUT" 2>&1 || rc=$?
  return "$rc"
}
exits_2_saying() { # exits_2_saying TEXT [VAR=VALUE...]
  local text="$1"; shift
  local rc=0
  check_routes "$@" || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "$text" "$OUT"
}

check "the table checks against the default applications (four services), catalog, identity, feed, progress and payment (three services) upstreams" \
  eval 'check_routes && grep -q "against 11 services and 6 upstreams" "$OUT"'
check "an empty YW_UPSTREAM_CATALOG fails --check-routes naming a catalog route" \
  exits_2_saying "route GET /v1/items (/yiwang.catalog.v1.CatalogService/ListItems): its upstream catalog is not configured; set YW_UPSTREAM_CATALOG" \
  YW_UPSTREAM_CATALOG=
check "an empty YW_UPSTREAM_IDENTITY fails --check-routes naming an identity route" \
  exits_2_saying "route POST /v1/auth/sms-codes" YW_UPSTREAM_IDENTITY=
check "the gateway itself does not start without a route's upstream" \
  eval 'rc=0; env YW_UPSTREAM_CATALOG= YW_GATEWAY_LISTEN=127.0.0.1:$(free_port) timeout 10 "$GWBIN" \
        >"$OUT" 2>&1 || rc=$?; [ "$rc" = 2 ] && grep -q "YW_UPSTREAM_CATALOG" "$OUT"'
check "more upstreams come from the environment by their names" \
  eval 'check_routes YW_UPSTREAM_PAYMENT=127.0.0.1:1 YW_UPSTREAM_PUSH_2=127.0.0.1:2 &&
        grep -q "and 7 upstreams" "$OUT"'
printf '# upstreams\nYW_UPSTREAM_FILES=127.0.0.1:3\n  YW_UPSTREAM_CATALOG=127.0.0.1:50052\n' \
  >"$E2E_TMP/gw.conf"
check "YW_CONFIG_FILE names upstreams too (not refused as unknown settings)" \
  eval 'check_routes YW_CONFIG_FILE="$E2E_TMP/gw.conf" && grep -q "and 7 upstreams" "$OUT"'
printf 'YW_UPSTREAM_CATALOG=\n' >"$E2E_TMP/empty.conf"
check "YW_CONFIG_FILE can unset an upstream, and the check names the route" \
  exits_2_saying "set YW_UPSTREAM_CATALOG" YW_CONFIG_FILE="$E2E_TMP/empty.conf"
check "a name that is not upper case is not an upstream setting" \
  eval 'check_routes YW_UPSTREAM_lower=127.0.0.1:1 && grep -q "and 6 upstreams" "$OUT"'
check "--help lists an upstream named in the environment" \
  eval 'env YW_UPSTREAM_PAYMENT=127.0.0.1:1 "$GWBIN" --help 2>&1 | grep YW_UPSTREAM_PAYMENT >/dev/null'

# A running gateway with one more upstream reports it (unavailable: nothing listens).
PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$PORT" YW_GATEWAY_TLS_LISTEN= YW_UPSTREAM_PAYMENT="127.0.0.1:$(free_port)" \
  YW_REDIS_ADDR="$YW_TEST_REDIS_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
  "$GWBIN" >"$E2E_TMP/gateway.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
check "/readyz reports the configured upstream payment" \
  eval 'curl -sS "http://127.0.0.1:$PORT/readyz" | grep -q "\"payment\""'
check "the start-up log names each upstream and its address" \
  grep -q "payment at 127.0.0.1:" "$E2E_TMP/gateway.log"

finish
