#!/usr/bin/env bash
# e2e_overload.sh - work nobody waits for, and more work than a service can take, on the
# real processes with a private PostgreSQL that the test stops (SIGSTOP) so that catalog
# searches hang in the database:
#   - a client that gives up mid-call is logged 499 by the gateway and counted, its
#     upstream call is cancelled, and the catalog's handler learns its caller left;
#   - past its handler threads and queue, the catalog refuses at once: 429 with
#     retry-after and the standard error body, never a wait until the deadline;
#   - a route whose upstream is down answers 503 with the standard error body at once,
#     and the gateway stays ready (it can still serve the other routes).
source "$(dirname "$0")/lib.sh"

e2e_private_pg
e2e_database
# one handler thread and one queued call in the catalog, so overload is easy to reach
export YW_CATALOG_THREADS=1 YW_CATALOG_QUEUE=1 YW_CATALOG_CACHE_TTL_S=0
e2e_start
B="$E2E_TMP/body"
H="$E2E_TMP/headers"

PG_PIDS=()
pg_freeze() { # stops the postmaster and every backend
  local pm; pm="$(head -1 "$E2E_PRIVATE_PG/data/postmaster.pid")"
  PG_PIDS=("$pm" $(pgrep -P "$pm"))
  kill -STOP "${PG_PIDS[@]}"
}
pg_thaw() { kill -CONT "${PG_PIDS[@]}" 2>/dev/null || true; }
now_ms() { date +%s%3N; }
q() { /usr/bin/python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/items?q=$(q 身份证)&pageSize=1")"
check "a search answers before the faults ($S)" test "$S" = 200

# --- a client that leaves mid-call ------------------------------------------------
pg_freeze
# HTTP/2 (the client closes the connection) and HTTP/1.1 (the same, mid-request)
curl -sS -m 1 --http2-prior-knowledge -o /dev/null -H 'x-request-id: e2e-gone-h2' \
  "$GW/v1/items?q=$(q 营业执照)&pageSize=2" >/dev/null 2>&1 || true
curl -sS -m 1 -o /dev/null -H 'x-request-id: e2e-gone-h1' "$GW/v1/items?q=$(q 营业执照)&pageSize=3" \
  >/dev/null 2>&1 || true
gone_logged() { grep "\"requestId\":\"$1\"" "$E2E_TMP/gateway.log" | grep -q '"status":499'; }
for id in e2e-gone-h2 e2e-gone-h1; do
  for _ in $(seq 50); do gone_logged "$id" && break; sleep 0.1; done
  check "the gateway logs the abandoned request $id with status 499" gone_logged "$id"
done
curl -sS "$GW/metrics" >"$E2E_TMP/metrics"
check "the metrics count them" grep -q 'status="499"} 2' "$E2E_TMP/metrics"
pg_thaw
handler_saw() { grep 'rpc.abandoned' "$E2E_TMP/catalog.log" | grep -q "$1"; }
for id in e2e-gone-h2 e2e-gone-h1; do
  for _ in $(seq 100); do handler_saw "$id" && break; sleep 0.1; done
  check "the catalog's handler learned the caller of $id was gone (upstream call cancelled)" \
    handler_saw "$id"
done

# --- more calls than the catalog takes --------------------------------------------
pg_freeze
start="$(now_ms)"
OVER_PIDS=()
for i in 1 2 3 4 5 6; do
  curl -sS -m 20 -o "$E2E_TMP/over.$i.body" -D "$E2E_TMP/over.$i.head" -w '%{http_code} %{time_total}\n' \
    "$GW/v1/items?q=$(q "营业执照$i")&pageSize=2" >"$E2E_TMP/over.$i.code" 2>/dev/null &
  OVER_PIDS+=("$!")
  sleep 0.1
done
# four of six are refused while the database is still stopped
refused() { grep -l '^429' "$E2E_TMP"/over.*.code 2>/dev/null | wc -l; }
for _ in $(seq 100); do [ "$(refused)" -ge 4 ] && break; sleep 0.1; done
n429="$(refused)"
check "calls past the handler and the queue are refused while it is busy ($n429 of 6)" test "$n429" -ge 4
pg_thaw
wait "${OVER_PIDS[@]}"
ok=0; bad=0
for i in 1 2 3 4 5 6; do
  code="$(cut -d' ' -f1 "$E2E_TMP/over.$i.code")"
  case "$code" in
    200) ok=$((ok + 1)) ;;
    429)
      grep -qi '^retry-after: [0-9]' "$E2E_TMP/over.$i.head" || bad=$((bad + 1))
      grep -q '"code":"RESOURCE_EXHAUSTED"' "$E2E_TMP/over.$i.body" || bad=$((bad + 1)) ;;
    *) bad=$((bad + 1)) ;;
  esac
done
check "the admitted calls were answered once the database was back ($ok ok)" test "$ok" -ge 1
check "every refusal has retry-after and the standard error body" test "$bad" = 0
printf 'refusal times: %s\n' "$(cat "$E2E_TMP"/over.*.code | tr '\n' ' ')"

# --- a route whose upstream is down ------------------------------------------------
kill -9 "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null || true
t0="$(now_ms)"
# a query no gateway worker has kept (the gateway's answer cache may still give one it
# kept, stale, while the catalog is down: gateway/README.md, "The answer cache")
S="$(curl -sS -m 10 -o "$B" -w '%{http_code}' "$GW/v1/items?q=$(q 营业执照)&pageSize=3")"
t1="$(now_ms)"
check "a route whose upstream is down answers 503 ($S in $((t1 - t0)) ms)" test "$S" = 503
check "with the standard error body" grep -q '"code":"UNAVAILABLE"' "$B"
check "it answers at once, not at the deadline" test $((t1 - t0)) -lt 5000
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/auth/sms-codes" -H 'content-type: application/json' \
  -d '{"phone":"13812345678"}')"
check "routes of the other upstream still answer ($S)" test "$S" = 200
for _ in $(seq 50); do grep -q '"catalog":"unavailable"' <(curl -sS "$GW/readyz") && break; sleep 0.1; done
S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/readyz")"
check "the gateway stays ready and reports the catalog down ($S: $(cat "$B"))" \
  bash -c "test $S = 200 && grep -q '\"catalog\":\"unavailable\"' '$B'"

finish
