#!/usr/bin/env bash
# bench/static.sh - static files: the gateway (YW_GATEWAY_STATIC) against nghttpd
# (Debian nghttp2-server) serving the same directory, in one run: the resident page
# (web/resident/index.html), its content-hashed script, a 64 KiB hashed bundle, the page
# over HTTP/1.1 and a revalidation (If-None-Match -> 304). Both servers get the same
# number of threads; the gateway here is a copy of its own with no upstream and no
# Redis (static answers use neither), so it runs without ./dev up. bench/run.sh runs it
# after its own rows.
#
# Closed-loop throughput and latency from h2load (per-request times from --log-file).
#
#   bench/static.sh [-n REQUESTS] [-c CLIENTS] [-m STREAMS_PER_CLIENT] [-t THREADS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=20000 C=10 M=5 T=2
while getopts n:c:m:t: o; do
  case $o in n) N=$OPTARG ;; c) C=$OPTARG ;; m) M=$OPTARG ;; t) T=$OPTARG ;; *) exit 2 ;; esac
done
BIN="${YW_BENCH_GATEWAY_BIN:-$ROOT/build/gateway/yw-gateway}"
[ -x "$BIN" ] || { echo "build first (./dev up or ./dev test): no $BIN" >&2; exit 1; }
TMP="$(mktemp -d)"
GW_PID="" NG_PID=""
trap 'for p in $GW_PID $NG_PID; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# the files: web/resident as it is, plus a 64 KiB bundle with a hashed name
WWW="$TMP/www"
cp -r "$ROOT/web/resident" "$WWW"
head -c 49152 /dev/urandom | base64 -w 100 >"$WWW/assets/bundle.0123abcd.js"
JS="$(cd "$WWW" && ls assets/app.*.js | head -1)"

GPORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$GPORT" YW_GATEWAY_TLS_LISTEN= YW_GATEWAY_THREADS="$T" \
  YW_GATEWAY_STATIC="/=$WWW" YW_CALLER_KEY="$(openssl rand -hex 32)" \
  YW_UPSTREAM_CATALOG=127.0.0.1:1 YW_UPSTREAM_IDENTITY=127.0.0.1:1 YW_REDIS_ADDR=127.0.0.1:1 \
  YW_LOG_LEVEL=warn "$BIN" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
GW="http://127.0.0.1:$GPORT"
for _ in $(seq 100); do curl -fsS "$GW/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -o /dev/null "$GW/" || { echo "the gateway did not serve $WWW"; cat "$TMP/gateway.log"; exit 1; }
ETAG="$(curl -sS -D - -o /dev/null "$GW/" | tr -d '\r' | sed -n 's/^etag: //Ip')"

printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME h2load-args...
  local name="$1"; shift
  rm -f "$TMP/log" # h2load appends to its log file
  h2load -n "$N" -c "$C" -m "$M" -t 1 --log-file="$TMP/log" "$@" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$name" "$TMP/out" "$TMP/log"
}

NG=""
if command -v nghttpd >/dev/null 2>&1; then
  NPORT="$(free_port)"
  nghttpd --no-tls -n "$T" -d "$WWW" "$NPORT" >/dev/null 2>&1 &
  NG_PID=$!
  for _ in $(seq 50); do
    curl -fsS --http2-prior-knowledge "http://127.0.0.1:$NPORT/index.html" >/dev/null 2>&1 && break
    sleep 0.1
  done
  NG="http://127.0.0.1:$NPORT"
else
  echo "(nghttpd not installed: apt-get install nghttp2-server for the ceiling)"
fi
# each file through the gateway, then at once the same file through nghttpd
pair() { # pair WHAT PATH
  run "static $1 via gateway (h2c)" "$GW/$2"
  [ -n "$NG" ] && run "ceiling: nghttpd $1 (h2c)" "$NG/$2"
  return 0
}
pair "page" index.html
pair "hashed script" "$JS"
pair "64 KiB bundle" assets/bundle.0123abcd.js
run "static page via gateway (HTTP/1.1)" --h1 "$GW/index.html"
run "static page 304 via gateway (h2c)" -H "if-none-match: $ETAG" "$GW/index.html"
run "baseline: gateway /healthz (h2c)" "$GW/healthz"
echo "requests=$N clients=$C streams/client=$M concurrent=$((C * M)) threads=$T cores=$(nproc)" \
  "page=$(wc -c <"$WWW/index.html")B script=$(wc -c <"$WWW/$JS")B"
