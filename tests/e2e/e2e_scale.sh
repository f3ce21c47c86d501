#!/usr/bin/env bash
# e2e_scale.sh - more copies, really balanced: two gateways and two copies of each
# service, the copies of a service behind one upstream target (127.0.0.2 and 127.0.0.3
# on the same port, as a name with two addresses resolves). Proves that each copy
# serves on its own (the other one stopped), that calls are spread over both, and that
# killing one copy of each service under h2load load fails only calls that were in
# flight on it, each with a clear status (503), never a hang. The copies run as their
# services' own non-superuser roles, as in deploy/.
source "$(dirname "$0")/lib.sh"

e2e_database
E2E_DB_PREFIX="$E2E_DB"
B="$E2E_TMP/body"

FPORT="$(free_port)"; CPORT="$(free_port)"; IPORT="$(free_port)"
FAKES="http://127.0.0.1:$FPORT"
/usr/bin/python3 "$YW_SOURCE_DIR/tools/fakes/fakes.py" "$FPORT" >"$E2E_TMP/fakes.log" 2>&1 &
E2E_PIDS+=("$!")

declare -A PID
start_copy() { # start_copy catalog|identity 2|3
  local svc="$1" host="127.0.0.$2" port
  if [ "$svc" = catalog ]; then port="$CPORT"; else port="$IPORT"; fi
  if [ "$svc" = catalog ]; then
    YW_CATALOG_LISTEN="$host:$port" YW_REDIS_PREFIX="$E2E_DB_PREFIX" YW_CATALOG_THREADS=4 \
      YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_catalog}" \
      "$YW_BUILD_DIR/services/catalog/yw-catalog" >>"$E2E_TMP/catalog-$2.log" 2>&1 &
  else
    YW_IDENTITY_LISTEN="$host:$port" YW_SMS_URL="$FAKES/sms/send" YW_ARGON2_FAST=1 \
      YW_REGISTRY_URL="$FAKES/registry/verify" YW_REDIS_PREFIX="$E2E_DB_PREFIX" YW_IDENTITY_THREADS=4 \
      YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_identity}" \
      "$YW_BUILD_DIR/services/identity/yw-identity" >>"$E2E_TMP/identity-$2.log" 2>&1 &
  fi
  PID[$svc-$2]=$!
  E2E_PIDS+=("$!")
}
for s in catalog identity; do start_copy "$s" 2; start_copy "$s" 3; done
e2e_feed # one copy: the gateways need every upstream of their routes
CATALOG_ADDR="ipv4:127.0.0.2:$CPORT,127.0.0.3:$CPORT" # yw-applications reads items there
IDENTITY_ADDR="ipv4:127.0.0.2:$IPORT,127.0.0.3:$IPORT" # and the applicant's verified identity
e2e_applications
e2e_progress
e2e_payment

GPORTS=()
for g in 1 2; do
  p="$(free_port)"; GPORTS+=("$p")
  YW_GATEWAY_LISTEN="127.0.0.1:$p" YW_GATEWAY_TLS_LISTEN="" \
    YW_UPSTREAM_CATALOG="ipv4:127.0.0.2:$CPORT,127.0.0.3:$CPORT" \
    YW_UPSTREAM_IDENTITY="ipv4:127.0.0.2:$IPORT,127.0.0.3:$IPORT" \
    YW_REDIS_PREFIX="$E2E_DB_PREFIX" YW_GATEWAY_THREADS=1 YW_GATEWAY_UPSTREAM_CONNECTIONS=1 \
    YW_GATEWAY_RATE_IP=1000000 YW_GATEWAY_BURST_IP=1000000 \
    YW_GATEWAY_RATE_SUBJECT=1000000 YW_GATEWAY_BURST_SUBJECT=1000000 \
    "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-$g.log" 2>&1 &
  E2E_PIDS+=("$!")
done
GW1="http://127.0.0.1:${GPORTS[0]}"; GW2="http://127.0.0.1:${GPORTS[1]}"
ready() { curl -fsS "$1/readyz" 2>/dev/null | grep -qv unavailable; }
for _ in $(seq 150); do ready "$GW1" && ready "$GW2" && break; sleep 0.2; done
check "both gateways are ready with both services" bash -c "$(declare -f ready); ready $GW1 && ready $GW2"

SEARCH="/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=5"
# a resident's token, for a route served by identity (GET /v1/me)
PHONE=13812340000
curl -fsS -X POST "$GW1/v1/auth/sms-codes" -H 'content-type: application/json' -d "{\"phone\":\"$PHONE\"}" >/dev/null
CODE="$(curl -fsS "$FAKES/sms/last?phone=$PHONE" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["code"])')"
TOKEN="$(curl -fsS -X POST "$GW1/v1/auth/sessions" -H 'content-type: application/json' \
  -d "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
check "a resident logged in through the pair" test -n "$TOKEN"

all_ok() { # all_ok GW PATH N [curl args] -> every one of N requests answers 200
  local gw="$1" path="$2" n="$3"; shift 3
  local i code
  for i in $(seq "$n"); do
    code="$(curl -sS -m 5 -o "$B" -w '%{http_code}' "$@" "$gw$path")"
    [ "$code" = 200 ] || { echo "request $i: $code $(head -c 200 "$B")"; return 1; }
  done
}

connected() { # connected PORT ADDR -> both gateways are connected to ADDR:PORT again
  # (one worker each, YW_GATEWAY_UPSTREAM_CONNECTIONS=1 connection to every address);
  # peers print as 127.0.0.2:P or [::ffff:127.0.0.2]:P
  [ "$(ss -Htn state established "( dport = :$1 )" | awk '{print $4}' | grep -cF "$2")" -ge 2 ]
}
wait_connected() { # a copy that was restarted is used again (gRPC reconnects within seconds)
  for _ in $(seq 150); do connected "$CPORT" "$1" && connected "$IPORT" "$1" && return 0; sleep 0.1; done
  ss -Htn state established "( dport = :$CPORT or dport = :$IPORT )"
  return 1
}

# each copy serves alone (a rolling restart: one copy at a time, the next only once the
# gateways use the restarted one again)
for stop in 2 3; do
  keep=$((5 - stop))
  kill -TERM "${PID[catalog-$stop]}" "${PID[identity-$stop]}"
  wait "${PID[catalog-$stop]}" "${PID[identity-$stop]}" 2>/dev/null || true
  check "with the .$stop copies gone, the .$keep copies answer every search" all_ok "$GW1" "$SEARCH" 20
  check "and every identity call" all_ok "$GW2" /v1/me 20 -H "authorization: Bearer $TOKEN"
  start_copy catalog "$stop"; start_copy identity "$stop"
  check "the gateways use the restarted .$stop copies again" wait_connected "127.0.0.$stop"
done

# calls are spread: both copies hold connections from each gateway and both answer
for _ in $(seq 100); do
  n="$(ss -Htn state established "( dport = :$CPORT )" | awk '{print $4}' | grep -oE '127\.0\.0\.[0-9]+' | sort -u | wc -l)"
  [ "$n" = 2 ] && break; sleep 0.1
done
check "the gateways are connected to both catalog copies ($n addresses)" test "$n" = 2

# kill one copy of each service under load through both gateways
H2="$E2E_TMP/h2"
h2load -n 6000 -c 4 -m 4 -t 1 "$GW1$SEARCH" >"$H2.1" 2>&1 &
L1=$!
h2load -n 6000 -c 4 -m 4 -t 1 -H "authorization: Bearer $TOKEN" "$GW2/v1/me" >"$H2.2" 2>&1 &
L2=$!
sleep 1
kill -9 "${PID[catalog-2]}" "${PID[identity-3]}"
wait "$L1" "$L2" || true
report() { # report FILE -> "succeeded 5xx"
  /usr/bin/python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", t)
st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", t)
print(req.group(4), st.group(1), st.group(3), st.group(4), req.group(6), req.group(7))
PY
}
read -r ok1 s2xx1 s4xx1 s5xx1 err1 to1 <<<"$(report "$H2.1")"
read -r ok2 s2xx2 s4xx2 s5xx2 err2 to2 <<<"$(report "$H2.2")"
printf 'search: %s 2xx, %s 5xx, %s errored, %s timeout; me: %s 2xx, %s 5xx, %s errored, %s timeout\n' \
  "$s2xx1" "$s5xx1" "$err1" "$to1" "$s2xx2" "$s5xx2" "$err2" "$to2"
# at most the streams in flight (4 clients x 4 streams) fail, each as an HTTP answer
check "search under a killed copy: only calls in flight failed ($s5xx1 of 6000)" \
  test "$s5xx1" -le 16 -a "$s4xx1" = 0 -a "$err1" = 0 -a "$to1" = 0 -a $((s2xx1 + s5xx1)) = 6000
check "identity under a killed copy: only calls in flight failed ($s5xx2 of 6000)" \
  test "$s5xx2" -le 16 -a "$s4xx2" = 0 -a "$err2" = 0 -a "$to2" = 0 -a $((s2xx2 + s5xx2)) = 6000
if [ "$s5xx1" -gt 0 ]; then
  check "failed calls are logged with a clear status (503)" \
    bash -c "grep '\"status\":5' '$E2E_TMP/gateway-1.log' | grep -v '\"status\":503' | grep -q . && exit 1 || exit 0"
fi

finish
