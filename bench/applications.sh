#!/usr/bin/env bash
# bench/applications.sh - concurrent submissions (POST /v1/applications through the
# gateway to yw-applications, which checks the item with yw-catalog and files it in one
# transaction with its outbox event), in one run against `./dev up`: N submissions of
# one resident at C concurrent streams, then a count of what was stored: as many new
# applications as answers 200 (a submission refused while the service is busy, 429 with
# retry-after, stores nothing), every number distinct, and yw-progress showing each (the
# events relayed and consumed). Beside it, the gateway's static answer.
#
#   bench/applications.sh [-n SUBMISSIONS] [-c CONCURRENT]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=1000 C=1000
while getopts n:c: o; do case $o in n) N=$OPTARG ;; c) C=$OPTARG ;; *) exit 2 ;; esac; done
GW="${YW_BENCH_GATEWAY:-http://127.0.0.1:8080}"
PG_PORT="${YW_DEV_PG_PORT:-55432}"
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d yiwang -qtA)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
curl -fsS "$GW/readyz" >/dev/null || { echo "start the system first: ./dev up" >&2; exit 1; }

source "$ROOT/bench/resident.sh"
TOKEN="$(resident_token 13700005555 李四 320722198512120020)"
printf '%s' '{"itemCode":"GG00001000-320700-GA","form":{"name":"李四"}}' >"$TMP/body"
BEFORE="$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")"

printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME h2load-args...
  local name="$1"; shift
  rm -f "$TMP/log"
  h2load --log-file="$TMP/log" "$@" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$name" "$TMP/out" "$TMP/log"
}
CONNS=$((C < 100 ? C : 100))
run "baseline: gateway static /healthz (h2c)" -n 20000 -c "$CONNS" -m $(((C + CONNS - 1) / CONNS)) -t 1 "$GW/healthz"
# a client refused while the service is busy (429, retry-after) submits again: rounds
# until every submission is filed (at most 10)
LEFT="$N" FILED=0 ROUND=1
while [ "$LEFT" -gt 0 ] && [ "$ROUND" -le 10 ]; do
  run "submissions, round $ROUND: $LEFT at once (h2c)" -n "$LEFT" -c "$((LEFT < CONNS ? LEFT : CONNS))" \
    -m $(((LEFT + CONNS - 1) / CONNS)) -t 1 \
    -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$TMP/body" \
    "$GW/v1/applications"
  OK="$(sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p' "$TMP/out")"
  FILED=$((FILED + ${OK:-0}))
  LEFT=$((N - FILED))
  ROUND=$((ROUND + 1))
  [ "$LEFT" -gt 0 ] && sleep 1 # retry-after: 1
done
AFTER="$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")"
DISTINCT="$("${PSQL[@]}" -c "SELECT count(DISTINCT number) FROM applications.applications")"
TOTAL="$AFTER"
echo "filed: $FILED of $N submissions in $((ROUND - 1)) rounds"
echo "stored: $((AFTER - BEFORE)) new applications for $FILED filed: $([ "$((AFTER - BEFORE))" = "$FILED" ] && echo 'none lost, none doubled' || echo MISMATCH); numbers distinct: $([ "$DISTINCT" = "$TOTAL" ] && echo yes || echo NO)"
for _ in $(seq 300); do
  SEEN="$("${PSQL[@]}" -c "SELECT count(*) FROM progress.applications")"
  [ "$SEEN" -ge "$TOTAL" ] && break
  sleep 0.2
done
echo "yw-progress shows $SEEN of $TOTAL applications"
