#!/usr/bin/env bash
# bench/auth.sh - what token verification adds to a request: the same catalog request
# (item detail, JSON over h2c) anonymous and with a resident's bearer token, in one run
# against `./dev up` (which logs in through the local SMS stand-in). Both go through the
# gateway's rate-limit script in Redis; the authenticated one also reads its session and
# the account's bucket in that same round trip, and the caller is signed for the service.
#
#   bench/auth.sh [-n REQUESTS] [-c CLIENTS] [-m STREAMS_PER_CLIENT]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=20000 C=10 M=5
while getopts n:c:m: o; do case $o in n) N=$OPTARG ;; c) C=$OPTARG ;; m) M=$OPTARG ;; *) exit 2 ;; esac; done
GW="${YW_BENCH_GATEWAY:-http://127.0.0.1:8080}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
curl -fsS "$GW/readyz" >/dev/null || { echo "start the system first: ./dev up" >&2; exit 1; }

PHONE=13700009999
curl -fsS -X POST "$GW/v1/auth/sms-codes" -H 'content-type: application/json' -d "{\"phone\":\"$PHONE\"}" >/dev/null ||
  true # a code may have been sent moments ago; the last one is still valid
CODE="$("$ROOT/dev" sms $PHONE)"
TOKEN="$(curl -fsS -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
  -d "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
ITEM="$(curl -fsS "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=1" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["implCode"])')"

printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME h2load-args...
  local name="$1"; shift
  rm -f "$TMP/log" # h2load appends to its log file
  h2load -n "$N" -c "$C" -m "$M" -t 1 --log-file="$TMP/log" "$@" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$name" "$TMP/out" "$TMP/log"
}
for round in 1 2; do
  run "detail anonymous (round $round)" "$GW/v1/items/$ITEM"
  run "detail with bearer token (round $round)" -H "authorization: Bearer $TOKEN" "$GW/v1/items/$ITEM"
done
echo "requests=$N clients=$C streams/client=$M concurrent=$((C * M)) cores=$(nproc)"
