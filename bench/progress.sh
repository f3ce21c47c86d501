#!/usr/bin/env bash
# bench/progress.sh - the public progress lookup (GET /v1/progress/{number}?queryCode=,
# yw-progress behind the gateway) beside the ceiling of a static answer of the same
# gateway (/healthz), in one run against `./dev up`, at 100 concurrent streams
# (10 h2c connections x 10 streams). A resident signs in through the local SMS
# stand-in, verifies their name, applies once for a seeded item, and waits until the
# application shows in yw-progress; then every lookup asks for that application with the
# right query code (the answer is served from Redis after the first).
#
#   bench/progress.sh [-n REQUESTS]
# Targets (issue 9): lookups p99 under 10 ms, and lookups/s at least 20% of the static
# answer's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=50000 C=10 M=10
while getopts n: o; do case $o in n) N=$OPTARG ;; *) exit 2 ;; esac; done
GW="${YW_BENCH_GATEWAY:-http://127.0.0.1:8080}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
curl -fsS "$GW/readyz" >/dev/null || { echo "start the system first: ./dev up" >&2; exit 1; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

source "$ROOT/bench/resident.sh"
TOKEN="$(resident_token 13700006666 张三 320706199001011230)"
RECEIPT="$(curl -fsS -X POST "$GW/v1/applications" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -H "idempotency-key: bench-progress-$$" \
  -d '{"itemCode":"GG00001000-320700-GA","form":{"name":"张三"}}')"
NUMBER="$(json "d['application']['number']" <<<"$RECEIPT")"
QCODE="$(json "d['queryCode']" <<<"$RECEIPT")"
URL="$GW/v1/progress/$NUMBER?queryCode=$QCODE"
for _ in $(seq 100); do curl -fsS -o /dev/null "$URL" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$URL" || { echo "yw-progress does not show $NUMBER" >&2; exit 1; }

printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME h2load-args...
  local name="$1"; shift
  rm -f "$TMP/log" # h2load appends to its log file
  h2load -n "$N" -c "$C" -m "$M" -t 1 --log-file="$TMP/log" "$@" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$name" "$TMP/out" "$TMP/log" | tee -a "$TMP/rows"
}
run "ceiling: gateway static /healthz (h2c)" "$GW/healthz"
run "progress lookup by number and code (h2c)" "$URL"
/usr/bin/python3 - "$TMP/rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
static, lookup = float(rows[0][-4]), float(rows[1][-4])
p99 = float(rows[1][-2])
print(f"lookups/s = {lookup / static:.2f}x the static answer (target >= 0.20x); "
      f"lookup p99 {p99:.2f} ms (target < 10 ms)")
PY
echo "requests=$N clients=$C streams/client=$M concurrent=$((C * M)) cores=$(nproc)"
