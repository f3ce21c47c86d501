#!/usr/bin/env bash
# e2e_lookup_limits.sh - the per-address limit of the routes anyone may try codes on
# (GW_LIMIT_LOOKUP: a notice code, a receipt number), on the real gateway, yw-payment and
# Redis: past its burst one address gets 429 with retry-after and the standard error body
# on all three routes while other public routes still answer it, other addresses keep
# their own budget (an IPv6 client is its /64), a lookup that finds nothing costs more,
# the bucket lives in Redis, and with Redis stalled (SIGSTOP) the local table still limits.
source "$(dirname "$0")/lib.sh"

e2e_private_redis
e2e_database
e2e_start
H="$E2E_TMP/head"
B="$E2E_TMP/body"

# A gateway of our own with a small lookup budget (6 a burst, refilled 1 a minute, so no
# check depends on how long the machine takes between requests; a miss costs 3) and a
# general one that never refuses; clients are told apart by X-Forwarded-For.
LPORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$LPORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
  YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_PREFIX="$E2E_DB-lookup" YW_GATEWAY_THREADS=2 \
  YW_GATEWAY_RATE_IP=100000 YW_GATEWAY_BURST_IP=100000 YW_GATEWAY_RATE_LOOKUP=1 \
  YW_GATEWAY_BURST_LOOKUP=6 YW_GATEWAY_LOOKUP_MISS_COST=3 YW_GATEWAY_TRUSTED_PROXIES="127.0.0.0/8" \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-lookup.log" 2>&1 &
LPID=$!
E2E_PIDS+=("$LPID")
L="http://127.0.0.1:$LPORT"
# up, and reaching yw-payment (a malformed code is its 400, not the gateway's 503); each
# try from an address of its own, so no budget below is touched
UP=""
for i in $(seq 100); do
  UP="$(curl -sS -o "$B" -w '%{http_code}' -H "x-forwarded-for: 192.0.2.$i" "$L/v1/payments/notices/1" 2>/dev/null || true)"
  [ "$UP" = 400 ] && break
  sleep 0.1
done
check "the gateway reaches yw-payment ($UP)" bash -c "[ '$UP' = 400 ] && grep -q 'not a notice code' '$B'"

# a notice code with a good check digit (Damm's, payment/notice_code.c) that no notice has
UNKNOWN="$(/usr/bin/python3 -c '
t = [[0,3,1,7,5,9,8,6,4,2],[7,0,9,2,1,5,4,8,6,3],[4,2,0,6,8,7,1,3,5,9],[1,7,5,0,9,8,3,4,2,6],
     [6,1,2,3,0,4,5,9,7,8],[3,6,7,4,2,0,9,5,8,1],[5,8,6,9,7,2,0,1,3,4],[8,9,4,5,3,6,2,0,1,7],
     [9,4,3,8,6,1,7,2,0,5],[2,5,8,1,4,3,6,7,9,0]]
d = "2619999999999999999"
i = 0
for c in d: i = t[i][int(c)]
print(d + str(i))')"

# burst ADDRESS N -> the statuses of N requests of ADDRESS, in one curl on one kept-alive
# connection (back to back; --next gives each its own method and body), cycling through
# the three lookup routes with malformed codes and numbers (each answered 400 by the
# service after the gateway let it through, so each costs one token)
burst() {
  local args=() i
  for i in $(seq "$2"); do
    [ "$i" = 1 ] || args+=(--next)
    args+=(-sS -m 10 -o /dev/null -w '%{http_code} ' -H "x-forwarded-for: $1")
    case $((i % 3)) in
      1) args+=("$L/v1/payments/notices/123") ;;
      2) args+=(-X POST -H 'content-type: application/json' -d '{"channel":"sim"}'
           "$L/v1/payments/notices/123:pay") ;;
      0) args+=("$L/v1/payments/receipts/x") ;;
    esac
  done
  curl "${args[@]}"
}
count() { tr ' ' '\n' <<<"$1" | grep -c "^$2\$" || true; }
ms() { echo "$(($(date +%s%N) / 1000000))"; }
# limited ADDRESS -> 12 lookups of ADDRESS at once: their statuses in $OUT, how many the
# service answered in $PASSED, the time they took in $ELAPSED (ms), and in $CEIL the most
# a burst of 6 and its refill (1 a minute) allow in that time
limited() {
  local t0; t0="$(ms)"
  OUT="$(burst "$1" 12)"
  ELAPSED="$(($(ms) - t0))"
  PASSED="$(count "$OUT" 400)"
  CEIL="$((6 + ELAPSED / 60000))"
}

# --- past the burst: 429 on the lookup routes, from this address only
limited 203.0.113.10
A="$OUT"
check "12 lookups at once from one address: the burst passes ($A)" test "$PASSED" -ge 6
check "and no more than the burst and its refill ($PASSED, at most $CEIL in $ELAPSED ms)" \
  test "$PASSED" -le "$CEIL"
check "the rest are 429 ($A)" test "$(count "$A" 429)" = "$((12 - PASSED))"
ROUTES429=""
for u in "$L/v1/payments/notices/123" "$L/v1/payments/receipts/x"; do
  ROUTES429="$ROUTES429 $(curl -sS -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.10' "$u")"
done
ROUTES429="$ROUTES429 $(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
  -d '{"channel":"sim"}' -H 'x-forwarded-for: 203.0.113.10' "$L/v1/payments/notices/123:pay")"
check "each lookup route refuses that address now ($ROUTES429)" test "$ROUTES429" = " 429 429 429"
curl -sS -D "$H" -o "$B" -H 'x-forwarded-for: 203.0.113.10' "$L/v1/payments/notices/$UNKNOWN"
check "the 429 has retry-after" grep -qi '^retry-after: [1-9]' "$H"
check "and the standard error body" /usr/bin/python3 -c "
import json,sys; d=json.load(open('$B'))
sys.exit(0 if d.get('code')=='RESOURCE_EXHAUSTED' and 'lookups' in d.get('message','') and d.get('requestId') else 1)"
S="$(curl -sS -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.10' "$L/v1/topics")"
check "another public route still answers that address ($S)" test "$S" = 200
S="$(curl -sS -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.10' "$L/v1/items?pageSize=2")"
check "and the catalog's search too ($S)" test "$S" = 200
S="$(curl -sS -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.11' "$L/v1/payments/notices/123")"
check "another address has its own budget ($S)" test "$S" = 400
KEYS="$(redis-cli -p "$REDIS_PORT" --scan --pattern "$E2E_DB-lookup:rl:lookup:*" | sort | tr '\n' ' ')"
check "the buckets are in Redis, one per address ($KEYS)" grep -q "rl:lookup:203.0.113.10 " <<<"$KEYS"
TTL="$(redis-cli -p "$REDIS_PORT" PTTL "$E2E_DB-lookup:rl:lookup:203.0.113.10")"
check "and expire once they would be full again ($TTL ms: 6 at 1 a minute, and a second)" \
  test "$TTL" -gt 0 -a "$TTL" -le 361000

# --- IPv6: addresses rotating inside one /64 share its budget
V6=""
for i in $(seq 8); do
  V6="$V6 $(curl -sS -o /dev/null -w '%{http_code}' -H "x-forwarded-for: 2001:db8:7:7::$i" "$L/v1/payments/notices/123")"
done
check "addresses inside one /64 share its lookups ($V6)" grep -q 429 <<<"$V6"

# --- a lookup that finds nothing costs 3: two misses spend the burst of 6
T0="$(ms)"
args=()
for i in $(seq 6); do args+=(-o /dev/null "$L/v1/payments/notices/$UNKNOWN"); done
MISS="$(curl -sS -w '%{http_code} ' -H 'x-forwarded-for: 203.0.113.20' "${args[@]}")"
ELAPSED="$(($(ms) - T0))"
MISSED="$(count "$MISS" 404)"
check "the unknown code is a miss ($MISS)" test "${MISS%% *}" = 404
check "misses spend the budget three times as fast ($MISSED of 6 passed in $ELAPSED ms)" \
  test "$MISSED" -ge 2 -a "$MISSED" -le "$((2 + ELAPSED / 60000))" -a "$MISSED" -lt 6

# --- Redis stalls: the local table limits the lookups, other routes go on
kill -STOP "$REDIS_PID"
limited 203.0.113.30
D="$OUT"
check "with Redis stalled the burst still passes ($D)" test "$PASSED" -ge 6
check "and the local table refuses past it ($PASSED, at most $CEIL in $ELAPSED ms)" \
  bash -c "[ $PASSED -le $CEIL ] && [ $(count "$D" 429) = $((12 - PASSED)) ]"
curl -sS -m 5 -D "$H" -o "$B" -H 'x-forwarded-for: 203.0.113.30' "$L/v1/payments/notices/123"
check "its 429 has retry-after and the standard error body" bash -c "
  grep -q '^HTTP/1.1 429' '$H' && grep -qi '^retry-after: [1-9]' '$H' &&
  /usr/bin/python3 -c \"import json,sys; d=json.load(open('$B')); sys.exit(0 if d.get('code')=='RESOURCE_EXHAUSTED' and d.get('requestId') else 1)\""
S="$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.30' "$L/v1/topics")"
check "with Redis stalled another public route still answers that address ($S)" test "$S" = 200
S="$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H 'x-forwarded-for: 203.0.113.31' "$L/v1/payments/notices/123")"
check "and another address its lookups ($S)" test "$S" = 400
kill -CONT "$REDIS_PID"
check "the gateway is still running" kill -0 "$LPID"

finish
