#!/usr/bin/env bash
# e2e_sse.sh - streamed answers through the real gateway (yw-gateway-test: yw-gateway's
# sources with the routes of tests/e2e/gw_test_routes.c) to a real gRPC server-streaming
# service (tests/e2e/feed_server.c, on lib/yw_rpc's server streams): Server-Sent Events over HTTP/1.1
# and h2 with curl, heartbeats, Last-Event-ID, errors before and after the first event,
# the idle timeout and the request deadline not applying, a client that leaves
# cancelling the service's stream, the limit per caller, the access rule, gRPC and
# gRPC-Web pass-through, an EventSource-like client reconnecting, flow control against
# a client that never reads, metrics, and the drain ending streams.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
e2e_private_redis # stopped below, to see the limit counted locally
PY="$E2E_TMP/py"
mkdir -p "$PY"
protoc --proto_path="$YW_SOURCE_DIR/tests/proto" --python_out="$PY" \
  "$YW_SOURCE_DIR/tests/proto/yiwang/test/v1/feed.proto"

FPORT="$(free_port)"
"$YW_BUILD_DIR/tests/feed_server" "$FPORT" >"$E2E_TMP/feed.log" 2>&1 &
FEED_PID=$!
E2E_PIDS+=("$FEED_PID")

GPORT="$(free_port)"; TPORT="$(free_port)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$E2E_TMP/tls.key" -out "$E2E_TMP/tls.crt" 2>/dev/null
YW_GATEWAY_LISTEN="127.0.0.1:$GPORT" YW_GATEWAY_TLS_LISTEN="127.0.0.1:$TPORT" \
  YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" YW_GATEWAY_TLS_KEY="$E2E_TMP/tls.key" \
  YW_UPSTREAM_TEST="127.0.0.1:$FPORT" \
  YW_REDIS_ADDR="$YW_TEST_REDIS_ADDR" YW_REDIS_PREFIX="e2e_sse_$$" YW_GATEWAY_THREADS=2 \
  YW_GATEWAY_SSE_HEARTBEAT_MS=300 YW_GATEWAY_SSE_RETRY_MS=50 YW_GATEWAY_IDLE_TIMEOUT_MS=1500 \
  YW_GATEWAY_TIMEOUT_MS=1000 YW_GATEWAY_STREAMS_PER_CALLER=4 YW_GATEWAY_DRAIN_MS=20000 \
  YW_GATEWAY_RATE_IP=100000 YW_GATEWAY_BURST_IP=100000 \
  "$YW_BUILD_DIR/tests/yw-gateway-test" >"$E2E_TMP/gateway.log" 2>&1 &
GATEWAY_PID=$!
E2E_PIDS+=("$GATEWAY_PID")
GW="http://127.0.0.1:$GPORT"
for _ in $(seq 100); do
  curl -fsS "$GW/readyz" 2>/dev/null | grep -q '"test":"ok"' && break
  sleep 0.1
done
if ! curl -fsS "$GW/readyz" | grep -q '"test":"ok"'; then
  echo "the gateway or the feed service did not become ready"
  cat "$E2E_TMP/gateway.log" "$E2E_TMP/feed.log" | tail -n 30
  exit 1
fi

B="$E2E_TMP/body"; H="$E2E_TMP/head"
# field NAME [FILE]: a top-level field of a JSON document (FILE, or stdin)
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin).get(sys.argv[1]))' "$@"; }
ids() { grep '^id: ' "$1" | cut -c5- | tr '\n' ' ' | sed 's/ $//'; }
# feed_ended TOPIC [WHAT]: the service's line for the end of TOPIC's stream, "watch TOPIC
# ended WHAT..." (waits up to 5 s)
feed_ended() {
  for _ in $(seq 50); do
    grep "^watch $1 ended ${2:-}" "$E2E_TMP/feed.log" && return 0
    sleep 0.1
  done
  return 1
}
wait_zcard() { # wait_zcard KEY N: until the sorted set KEY has N members (up to 5 s)
  for _ in $(seq 50); do [ "$("${RCLI[@]}" zcard "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
open_streams() { curl -fsS "$GW/metrics" | awk '/^yw_gateway_streams_open /{print $2}'; }
wait_open() { # wait_open N: until the gateway counts N open streams (up to 5 s)
  for _ in $(seq 50); do [ "$(open_streams)" = "$1" ] && return 0; sleep 0.1; done
  return 1
}

# --- events over HTTP/1.1 (chunked) and h2, in order, with ids
curl -sS -N -D "$H" -o "$B" "$GW/v1/test/feed/news?count=3&intervalMs=50"
check "HTTP/1.1: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$H"
check "HTTP/1.1: chunked, no length" grep -qi '^transfer-encoding: chunked' "$H"
check "HTTP/1.1: the events in order with their ids (the message's seq)" test "$(ids "$B")" = "1 2 3"
check "the stream starts with a retry hint" test "$(head -1 "$B")" = "retry: 50"
check "each event names its type and carries the message as one line of JSON" \
  grep -qx 'data: {"seq":"2","topic":"news","text":"event 2"}' "$B"
check "the route's event name is given" test "$(grep -c '^event: feed$' "$B")" = 3
check "the service saw the whole stream, not a cancel" feed_ended news "cancelled=0 sent=3"

curl -sS -N --http2-prior-knowledge -D "$H" -o "$B" "$GW/v1/test/feed/h2news?count=4"
check "h2: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$H"
check "h2: the events in order with their ids" test "$(ids "$B")" = "1 2 3 4"

# --- over TLS: HTTP/1.1 and h2 chosen by ALPN
GWS="https://127.0.0.1:$TPORT"
curl -sS -N --cacert "$E2E_TMP/tls.crt" --http1.1 -D "$H" -o "$B" "$GWS/v1/test/feed/tls1?count=3"
check "TLS HTTP/1.1: the events in order" test "$(ids "$B")" = "1 2 3" -a -n "$(grep -i '^transfer-encoding: chunked' "$H")"
curl -sS -N --cacert "$E2E_TMP/tls.crt" --http2 -D "$H" -o "$B" "$GWS/v1/test/feed/tls2?count=3"
check "TLS h2 (ALPN): the events in order" test "$(ids "$B")" = "1 2 3" -a -n "$(grep '^HTTP/2 200' "$H")"

# --- heartbeats; neither the idle timeout (1.5 s) nor the deadline (1 s) ends a stream
set +e
curl -sS -N -m 3.5 -o "$B" "$GW/v1/test/feed/quiet?count=1&hold=true"; RC=$?
set -e
check "a held stream is still open after 3.5 s (curl's own timeout ended it)" test "$RC" = 28
check "heartbeat comments arrive while nothing happens" test "$(grep -c '^: hb$' "$B")" -ge 5
check "the event before the heartbeats arrived" test "$(ids "$B")" = "1"
check "the service saw the client go (cancel)" feed_ended quiet "cancelled=1"
# the gateway writes its access lines in batches: wait for the line
quiet_499() {
  for _ in $(seq 50); do
    [ "$(grep '"path":"/v1/test/feed/quiet"' "$E2E_TMP/gateway.log" | grep -c '"status":499')" = 1 ] &&
      return 0
    sleep 0.1
  done
  return 1
}
check "a client that left is logged once as 499" quiet_499
set +e
curl -sS -N --http2-prior-knowledge -m 2 -o "$B" "$GW/v1/test/feed/h2quiet?count=0&hold=true"; RC=$?
set -e
check "h2: a quiet stream sends its head and heartbeats at once" \
  test "$RC" = 28 -a "$(grep -c '^: hb$' "$B")" -ge 2
check "h2: the reset stream cancels the service's stream" feed_ended h2quiet "cancelled=1"

# --- Last-Event-ID, as header and as the polyfills' query parameter
curl -sS -N -o "$B" -H 'Last-Event-ID: 5' "$GW/v1/test/feed/resume?count=2"
check "Last-Event-ID 5: the service resumes after it (6 7)" test "$(ids "$B")" = "6 7"
curl -sS -N -o "$B" "$GW/v1/test/feed/resume?count=1&lastEventId=9"
check "lastEventId=9 in the query: the same (10)" test "$(ids "$B")" = "10"
LONG="$(printf '%0200d' 7)"
S="$(curl -sS -o "$B" -w '%{http_code}' -H "Last-Event-ID: $LONG" "$GW/v1/test/feed/resume?count=1")"
check "a Last-Event-ID that is no event id is 400 with the error body" \
  test "$S" = 400 -a "$(field code "$B")" = INVALID_ARGUMENT

# --- errors: before the first event an ordinary JSON answer; after it an error event
S="$(curl -sS -N -D "$H" -o "$B" -w '%{http_code}' "$GW/v1/test/feed/missing?count=1")"
check "an error before the first event is an ordinary 404 JSON answer" \
  test "$S" = 404 -a "$(field code "$B")" = NOT_FOUND
check "with its request id" test "$(field requestId "$B")" != None
curl -sS -N -o "$B" "$GW/v1/test/feed/broken?count=5&failAfter=2"
check "an error after two events ends the stream with an error event" \
  test "$(ids "$B")" = "1 2" -a "$(grep -A1 '^event: error$' "$B" | sed -n 2p | cut -c7- | field code)" = UNAVAILABLE
S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/test/feed/x?bogus=1")"
check "an unknown query parameter is 400, as on any route" test "$S" = 400

# --- access: a resident's feed needs a resident's session
S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/test/me/feed")"
check "a resident's feed without a session is 401" test "$S" = 401 -a "$(field code "$B")" = UNAUTHENTICATED

# a resident's session, as yw-identity keeps it (the hash named by the token's SHA-256)
RCLI=(redis-cli -h "${YW_TEST_REDIS_ADDR%:*}" -p "${YW_TEST_REDIS_ADDR##*:}")
TOKEN="sse-e2e-token-$RANDOM$RANDOM$RANDOM"
TOKEN_HASH="$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
"${RCLI[@]}" hset "e2e_sse_$$:sess:$TOKEN_HASH" sub p-sse-1 kind person roles "" dept "" level 2 org "" >/dev/null
"${RCLI[@]}" expire "e2e_sse_$$:sess:$TOKEN_HASH" 600 >/dev/null
curl -sS -N -o "$B" -H "authorization: Bearer $TOKEN" "$GW/v1/test/me/feed?topic=mine&count=2"
check "a resident's feed with the resident's session streams (1 2)" test "$(ids "$B")" = "1 2"
check "the service got the caller the gateway vouches for" feed_ended mine "cancelled=0 sent=2 last_event_id=- caller=yes"
curl -sS -N -m 30 -o "$E2E_TMP/mine" -H "authorization: Bearer $TOKEN" "$GW/v1/test/me/feed?topic=mine-held&count=1&hold=true" &
MINE=$!
check "the resident's open stream is counted under the account, not the address" \
  wait_zcard "e2e_sse_$$:streams:{sub:p-sse-1}" 1
kill "$MINE" 2>/dev/null || true
wait "$MINE" 2>/dev/null || true
check "and given back when it ends" wait_zcard "e2e_sse_$$:streams:{sub:p-sse-1}" 0

# --- the limit per caller (4 here): the fifth stream of one address is 429
check "no stream is open before the limit test" wait_open 0
LIMIT_PIDS=()
for i in 1 2 3 4; do
  curl -sS -N -m 30 -o "$E2E_TMP/held$i" "$GW/v1/test/feed/held$i?count=1&hold=true" &
  LIMIT_PIDS+=("$!")
done
check "four streams are open" wait_open 4
S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$GW/v1/test/feed/fifth?count=1")"
check "the fifth stream of the caller is 429 RESOURCE_EXHAUSTED" \
  test "$S" = 429 -a "$(field code "$B")" = RESOURCE_EXHAUSTED
check "with retry-after" grep -qi '^retry-after: ' "$H"
check "the places are in Redis, one per open stream" wait_zcard "e2e_sse_$$:streams:{ip:127.0.0.1}" 4
kill "${LIMIT_PIDS[@]}" 2>/dev/null || true
wait "${LIMIT_PIDS[@]}" 2>/dev/null || true
check "the streams whose clients left are closed" wait_open 0
check "their places are given back" wait_zcard "e2e_sse_$$:streams:{ip:127.0.0.1}" 0
curl -sS -N -o "$B" "$GW/v1/test/feed/again?count=1"
check "a new stream is taken again once they have gone" test "$(ids "$B")" = 1

# --- gRPC-Web with curl: the request frame by hand (FeedWatchRequest{topic: "curlweb",
# count: 3}), the answer's frames read back: three messages, then the trailer frame
printf '\x00\x00\x00\x00\x0b\x0a\x07curlweb\x10\x03' >"$E2E_TMP/web.req"
# frames FILE [text]: "<messages> <trailer block>" of a gRPC-Web answer body
frames() { /usr/bin/python3 - "$@" <<'PY'
import base64, re, struct, sys
d = open(sys.argv[1], "rb").read()
if len(sys.argv) > 2:  # -text: each frame base64 of its own
    d = b"".join(base64.b64decode(p) for p in re.findall(rb"[^=]*=*", d) if p)
n, trailer = 0, b""
while len(d) >= 5:
    flag, size = d[0], struct.unpack(">I", d[1:5])[0]
    if flag & 0x80:
        trailer = d[5:5 + size]
    else:
        n += 1
    d = d[5 + size:]
print(n, trailer.decode().replace("\r\n", ";"))
PY
}
S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -H 'content-type: application/grpc-web+proto' \
  -H 'x-grpc-web: 1' --data-binary @"$E2E_TMP/web.req" "$GW/yiwang.test.v1.FeedService/Watch")"
check "gRPC-Web (curl): 200, three message frames, then the trailers with grpc-status 0" \
  test "$S" = 200 -a "$(frames "$B" | cut -d' ' -f1)" = 3 -a -n "$(frames "$B" | grep 'grpc-status:0;')"
base64 -w0 "$E2E_TMP/web.req" >"$E2E_TMP/web.txt"
S="$(curl -sS -o "$B" -w '%{http_code}' -H 'content-type: application/grpc-web-text+proto' \
  -H 'x-grpc-web: 1' --data-binary @"$E2E_TMP/web.txt" "$GW/yiwang.test.v1.FeedService/Watch")"
check "gRPC-Web-text (curl): the same frames in base64" \
  test "$S" = 200 -a "$(frames "$B" text | cut -d' ' -f1)" = 3 -a -n "$(frames "$B" text | grep 'grpc-status:0;')"

# --- gRPC, gRPC-Web, an EventSource-like client, a client that never reads
if PYTHONPATH="$PY" /usr/bin/python3 "$YW_SOURCE_DIR/tests/e2e/sse_clients.py" "127.0.0.1:$GPORT" \
  >"$E2E_TMP/clients.out" 2>&1; then
  pass "gRPC and gRPC-Web server streaming, EventSource reconnection (sse_clients.py)"
else
  fail "gRPC and gRPC-Web server streaming, EventSource reconnection (sse_clients.py)"
fi
sed 's/^/    /' "$E2E_TMP/clients.out"
check "gRPC: the client's cancel reaches the service" feed_ended grpc-cancel "cancelled=1"
SLOW="$(feed_ended slow "cancelled=1" | sed 's/.*sent=\([0-9]*\).*/\1/' || true)"
echo "    a client that never read: the service sent $SLOW of 400 messages of 60 kB"
check "flow control: a client that never reads holds the service back (< 150 of 400 sent)" \
  test -n "$SLOW" -a "${SLOW:-400}" -lt 150
SLOW="$(feed_ended slowh2 "cancelled=1" | sed 's/.*sent=\([0-9]*\).*/\1/' || true)"
echo "    an h2 client that never read nor opened its window: the service sent $SLOW of 400"
check "flow control over h2: a stream whose window stays shut holds the service back (< 150)" \
  test -n "$SLOW" -a "${SLOW:-400}" -lt 150
check "a client that pings but keeps its window shut: the service's stream is cancelled" \
  feed_ended windowshut "cancelled=1"

# --- metrics
curl -fsS -o "$B" "$GW/metrics"
check "metrics: open streams gauge" grep -q '^yw_gateway_streams_open 0$' "$B"
check "metrics: messages sent" grep -Eq '^yw_gateway_stream_messages_total [1-9]' "$B"
check "metrics: streams ended by reason" grep -Eq '^yw_gateway_streams_ended_total\{reason="client"\} [1-9]' "$B"
check "metrics: refused over the limit" grep -q '^yw_gateway_streams_refused_total 1$' "$B"

# --- Redis unreachable: each copy counts its own streams, under the same limit
kill -STOP "$REDIS_PID"
LOCAL_PIDS=()
for i in 1 2 3 4; do
  curl -sS -N -m 30 -o "$E2E_TMP/local$i" "$GW/v1/test/feed/local$i?count=1&hold=true" &
  LOCAL_PIDS+=("$!")
done
check "with Redis stopped, streams still open (counted by the gateway itself)" wait_open 4
S="$(curl -sS -m 10 -o "$B" -w '%{http_code}' "$GW/v1/test/feed/local5?count=1")"
check "with Redis stopped, the fifth stream of the caller is still 429" test "$S" = 429
kill "${LOCAL_PIDS[@]}" 2>/dev/null || true
wait "${LOCAL_PIDS[@]}" 2>/dev/null || true
check "the locally counted streams close" wait_open 0
kill -CONT "$REDIS_PID"

# --- drain: SIGTERM ends open streams at once (cleanly: the last chunk), long before
# YW_GATEWAY_DRAIN_MS (20 s), and the gateway exits
curl -sS -N -m 30 -o "$E2E_TMP/drain1" "$GW/v1/test/feed/drain1?count=1&hold=true" &
D1=$!
curl -sS -N -m 30 --http2-prior-knowledge -o "$E2E_TMP/drain2" "$GW/v1/test/feed/drain2?count=1&hold=true" &
D2=$!
check "two streams are open before the drain" wait_open 2
T0=$(date +%s%N)
kill -TERM "$GATEWAY_PID"
set +e
wait "$D1"; R1=$?
wait "$D2"; R2=$?
wait "$GATEWAY_PID"; GS=$?
set -e
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
check "drain: the HTTP/1.1 stream ended cleanly (curl exit 0)" test "$R1" = 0
check "drain: the h2 stream ended cleanly (curl exit 0)" test "$R2" = 0
check "drain: both had their event first" test "$(ids "$E2E_TMP/drain1")$(ids "$E2E_TMP/drain2")" = 11
check "drain: the gateway exits 0, in far less than the drain time ($MS ms)" test "$GS" = 0 -a "$MS" -lt 5000
check "drain: the service's streams were cancelled" feed_ended drain1 "cancelled=1"
finish
