#!/usr/bin/env bash
# bench/sse.sh - fan-out of events to many Server-Sent Events subscribers through the
# gateway, beside a baseline from the same run: the same messages streamed straight
# from the service over gRPC.
#
# The service is tests/e2e/feed_server (lib/yw_rpc server streams, one sender thread for
# every stream); the gateway is yw-gateway-test (yw-gateway's sources with the test
# routes, tests/e2e/gw_test_routes.c) with no Redis (the limit per caller counts
# locally; it is set above the subscribers, who all come from one address). Each
# subscriber asks for EVENTS events INTERVAL_MS apart; each event carries the time the
# service sent it, so every delivery has a latency (service send -> client read, both
# clocks this machine's). The clients are bench/sse_fanout.py: asyncio sockets for SSE
# over HTTP/1.1, grpc.aio for the baseline; they run on the same machine, so both rows
# pay the same client cost and the ratio is what the gateway adds.
#
#   bench/sse.sh [-s SUBSCRIBERS] [-e EVENTS] [-i INTERVAL_MS] [-t GATEWAY_THREADS]
#   YW_BENCH_BUILD=build-sse bench/sse.sh     (a build directory with tests/ built)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
S=1000 E=20 I=100 T=2
while getopts s:e:i:t: o; do
  case $o in s) S=$OPTARG ;; e) E=$OPTARG ;; i) I=$OPTARG ;; t) T=$OPTARG ;; *) exit 2 ;; esac
done
BUILD="${YW_BENCH_BUILD:-$ROOT/build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
for b in tests/yw-gateway-test tests/feed_server; do
  [ -x "$BUILD/$b" ] || { echo "build first: no $BUILD/$b (cmake --build $BUILD --target yw-gateway-test feed_server)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((S * 2 + 100)) ] || { echo "need more open files than $(ulimit -n) for $S subscribers" >&2; exit 1; }
TMP="$(mktemp -d)"
GW_PID="" FEED_PID=""
trap 'for p in $GW_PID $FEED_PID; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
mkdir -p "$TMP/py"
protoc --proto_path="$ROOT/tests/proto" --python_out="$TMP/py" "$ROOT/tests/proto/yiwang/test/v1/feed.proto"

FPORT="$(free_port)"
"$BUILD/tests/feed_server" "$FPORT" 2 >"$TMP/feed.log" 2>&1 &
FEED_PID=$!
GPORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$GPORT" YW_GATEWAY_TLS_LISTEN= YW_GATEWAY_THREADS="$T" \
  YW_UPSTREAM_TEST="127.0.0.1:$FPORT" YW_REDIS_ADDR=127.0.0.1:1 YW_CALLER_KEY="$(openssl rand -hex 32)" \
  YW_GATEWAY_STREAMS_PER_CALLER=$((S * 4)) YW_GATEWAY_MAX_CONNECTIONS=$((S * 4)) \
  YW_GATEWAY_RATE_IP=10000000 YW_GATEWAY_BURST_IP=10000000 YW_LOG_LEVEL=warn \
  "$BUILD/tests/yw-gateway-test" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$GPORT/readyz" 2>/dev/null | grep -q '"test":"ok"' && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$GPORT/readyz" | grep -q '"test":"ok"' || { echo "not ready"; tail "$TMP"/*.log; exit 1; }

echo "fan-out: $S subscribers x $E events, ${I} ms apart (offered $((S * 1000 / I)) events/s); gateway threads $T"
printf '%-36s %10s %9s %9s %9s %8s %7s\n' scenario delivered per_s p50_ms p99_ms max_ms errors
row() { # row NAME MODE TARGET
  PYTHONPATH="$TMP/py" /usr/bin/python3 "$ROOT/bench/sse_fanout.py" "$2" "$3" "$S" "$E" "$I" >"$TMP/row"
  /usr/bin/python3 - "$1" "$TMP/row" <<'EOF'
import json, sys
r = json.load(open(sys.argv[2]))
print("%-36s %10d %9d %9.2f %9.2f %8.2f %7d" % (sys.argv[1], r["delivered"], r["per_second"],
      r["p50_ms"], r["p99_ms"], r["max_ms"], r["errors"]))
EOF
}
row "baseline: gRPC straight from service" grpc "127.0.0.1:$FPORT"
row "SSE through the gateway (HTTP/1.1)" sse "127.0.0.1:$GPORT"
row "baseline again (drift check)" grpc "127.0.0.1:$FPORT"
RSS="$(awk '/VmHWM/{print $2}' /proc/$GW_PID/status)"
echo "gateway peak RSS: $((RSS / 1024)) MiB"
