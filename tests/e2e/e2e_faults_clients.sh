#!/usr/bin/env bash
# e2e_faults_clients.sh - slow, hostile and plentiful clients against the real gateway:
# slowloris on HTTP/1.1 and HTTP/2 (the head deadline, not the idle timer, ends them), an
# HTTP/2 connection kept busy with PINGs only (idle counts from the last request), 1,000
# idle connections (served around, then closed by the idle timeout), the connection caps,
# a client that pipelines requests and never reads (memory stays bounded), a client that
# pushes request bodies it never finishes (flow control holds it), and HTTP/2's 413 with
# its body. The raw clients are in clients.py. Bounds are generous; figures are printed.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
source "$(dirname "$0")/lib.sh"

CLIENTS=(/usr/bin/python3 "$(dirname "$0")/clients.py")
e2e_database
e2e_start

# start_gateway NAME [SETTING=VALUE...]: another gateway on the same upstreams, with the
# settings under test; sets GPORT and GPID.
start_gateway() {
  local name="$1"; shift
  GPORT="$(free_port)"
  env YW_GATEWAY_LISTEN="127.0.0.1:$GPORT" YW_GATEWAY_TLS_LISTEN="" \
    YW_UPSTREAM_CATALOG="$CATALOG_ADDR" YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" \
    YW_REDIS_PREFIX="$E2E_DB" YW_GATEWAY_MAX_BODY=65536 YW_GATEWAY_THREADS=2 \
    YW_GATEWAY_RATE_IP=1000000 YW_GATEWAY_BURST_IP=1000000 "$@" \
    "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-$name.log" 2>&1 &
  GPID=$!
  E2E_PIDS+=("$GPID")
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$GPORT/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "gateway $name did not start"; cat "$E2E_TMP/gateway-$name.log"; return 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])$1)"; }
# jassert JSON EXPR: EXPR holds for r, the JSON object on JSON's last line
jassert() { R="$1" /usr/bin/python3 -c "import json,os; r=json.loads(os.environ['R'].splitlines()[-1]); assert $2, r"; }
search() { # search PORT -> HTTP status of a catalog search on a new connection
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
    "http://127.0.0.1:$1/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=5"
}
# waits for a background client's first JSON line in FILE
wait_line() { for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

# --- slowloris: a head byte every 200 ms; the head deadline is 2 s, the idle timeout 30 s
start_gateway slow YW_GATEWAY_HEADER_TIMEOUT_MS=2000 YW_GATEWAY_IDLE_TIMEOUT_MS=30000
SLOW=$GPORT
SLOWPIDS=()
for i in $(seq 10); do
  "${CLIENTS[@]}" slow-h1 "$SLOW" 0.2 15 >"$E2E_TMP/slow-$i" &
  SLOWPIDS+=($!)
done
"${CLIENTS[@]}" slow-h2-preface "$SLOW" 0.2 15 >"$E2E_TMP/slow-preface" &
SLOWPIDS+=($!)
"${CLIENTS[@]}" slow-h2-headers "$SLOW" 1 15 >"$E2E_TMP/slow-headers" &
SLOWPIDS+=($!)
sleep 0.5
S1="$(search "$SLOW")"; S2="$(search "$SLOW")"
check "other clients are served while slowloris clients hold connections ($S1 $S2)" test "$S1$S2" = 200200
wait "${SLOWPIDS[@]}"
for i in $(seq 10); do cat "$E2E_TMP/slow-$i"; done >"$E2E_TMP/slow-all"
R="$(cat "$E2E_TMP/slow-1")"; echo "slow HTTP/1.1 head: $R"
check "slowloris heads on HTTP/1.1 are closed by the head deadline, well before the idle timeout" \
  /usr/bin/python3 -c "
import json
rs = [json.loads(l) for l in open('$E2E_TMP/slow-all')]
assert len(rs) == 10 and all(r['closed'] and r['after'] < 10 for r in rs), rs"
R="$(cat "$E2E_TMP/slow-preface")"; echo "slow HTTP/2 preface: $R"
check "a trickled HTTP/2 preface is closed by the head deadline" \
  jassert "$R" "r['closed'] and r['after'] < 10"
R="$(cat "$E2E_TMP/slow-headers")"; echo "slow HTTP/2 header block: $R"
# one CONTINUATION a second: nghttp2's own flood guard (8 of them) would only act at 8 s
check "a header block trickled in CONTINUATION frames ends in GOAWAY by the head deadline" \
  jassert "$R" "r['closed'] and r['goaway'] and r['after'] < 6"
check "the gateway still serves after the slowloris clients" test "$(search "$SLOW")" = 200

# --- idle counts from the last complete request: PINGs do not keep a connection
start_gateway idle YW_GATEWAY_IDLE_TIMEOUT_MS=6000
IDLE=$GPORT; IDLE_PID=$GPID
R="$("${CLIENTS[@]}" h2-ping "$IDLE" 0.3 20)"; echo "HTTP/2 with PINGs only: $R"
check "an HTTP/2 connection that only sends PINGs is closed by the idle timeout with GOAWAY" \
  jassert "$R" "r['closed'] and r['goaway'] and 4 <= r['after'] < 18"

# --- 1,000 idle connections: held while searches answer, then closed by the idle timeout
BEFORE="$(rss_kb "$IDLE_PID")"
"${CLIENTS[@]}" hold "$IDLE" 1000 30 >"$E2E_TMP/hold" &
HOLD_PID=$!
wait_line "$E2E_TMP/hold"
HELD="$(head -1 "$E2E_TMP/hold")"
OPEN="$(curl -sS "http://127.0.0.1:$IDLE/metrics" | awk '/^yw_gateway_open_connections / {print $2}')"
AFTER="$(rss_kb "$IDLE_PID")"
CODES=""; for _ in 1 2 3 4 5; do CODES="$CODES $(search "$IDLE")"; done
wait "$HOLD_PID"
R="$(tail -1 "$E2E_TMP/hold")"
echo "1,000 idle connections: $HELD, the gateway counted $OPEN open; VmRSS ${BEFORE} kB -> ${AFTER} kB" \
  "($(( (AFTER - BEFORE) / 1000 )) kB a connection); $R"
check "1,000 idle connections are held open" test "$(field "['opened']" <<<"$HELD")" = 1000
check "the gateway counts them in /metrics" test "${OPEN:-0}" -ge 1000
check "searches answer while 1,000 idle connections are open ($CODES)" test "$CODES" = " 200 200 200 200 200"
check "the idle timeout closes all of them" \
  jassert "$R" "r['closed'] == 1000 and 4 <= r['first'] and r['last'] < 30"

# --- connection caps: past them new connections are closed at once, the others served
start_gateway cap YW_GATEWAY_MAX_CONNECTIONS=50 YW_GATEWAY_IDLE_TIMEOUT_MS=30000
R="$("${CLIENTS[@]}" cap "$GPORT" 50 20)"; echo "cap of 50: $R"
check "past the cap new connections are closed at once, the held ones still answer" \
  jassert "$R" "(r['held'], r['extra_closed'], r['held_answer'], r['extra_answer']) == (50, 20, 200, 0)"
check "refused connections are logged" grep -q '"gateway.connections_refused"' "$E2E_TMP/gateway-cap.log"
check "below the cap again, new connections are served" test "$(search "$GPORT")" = 200
start_gateway worker-cap YW_GATEWAY_WORKER_CONNECTIONS=10 YW_GATEWAY_IDLE_TIMEOUT_MS=30000
R="$("${CLIENTS[@]}" hold "$GPORT" 40 3)"; echo "per-worker cap of 10 with 2 workers, 40 connections: $R"
check "no worker holds more than its cap (2 workers x 10)" \
  jassert "$R" "r['opened'] == 40 and r['closed'] >= 20"

# --- a client that pipelines requests and never reads: bounded memory, others served
PIPE_PATH='/v1/items?pageSize=100'  # a 30 kB answer
# under ASan freed memory waits in a quarantine (256 MB): kept small here, so that VmRSS
# shows what the gateway holds rather than what it has churned through
start_gateway pipe YW_GATEWAY_IDLE_TIMEOUT_MS=30000 \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4"
PIPE_PID=$GPID; PIPE_PORT=$GPORT
for _ in $(seq 20); do curl -sS -o /dev/null "http://127.0.0.1:$GPORT$PIPE_PATH"; done
BEFORE="$(rss_kb "$PIPE_PID")"
"${CLIENTS[@]}" pipeline "$GPORT" "$PIPE_PATH" 6 >"$E2E_TMP/pipe" &
PIPE_CLIENT=$!
wait_line "$E2E_TMP/pipe"
AFTER="$(rss_kb "$PIPE_PID")"
S1="$(search "$GPORT")"
sleep 2
LATER="$(rss_kb "$PIPE_PID")"
ANSWERED="$(grep -c '"path":"/v1/items"' "$E2E_TMP/gateway-pipe.log")"
wait "$PIPE_CLIENT"
echo "never-reading pipeliner: $(tail -1 "$E2E_TMP/pipe"); the gateway answered $((ANSWERED - 20))" \
  "of them; VmRSS ${BEFORE} -> ${AFTER} -> ${LATER} kB"
check "a client that never reads gets no more requests answered than its unread output allows" \
  test $((ANSWERED - 20)) -lt 500
check "the gateway's memory stays bounded under it (< 32 MB more)" test $((LATER - BEFORE)) -lt 32768
check "other clients are served meanwhile" test "$S1" = 200

# --- request bodies that never finish: flow control holds them to the connection's budget
# (1 MB, plus at most a 64 kB window a stream), where they could be 20 x 500 kB
start_gateway flow YW_GATEWAY_CONN_BUFFER=1048576 YW_GATEWAY_MAX_BODY=1048576 \
  YW_GATEWAY_IDLE_TIMEOUT_MS=30000
R="$("${CLIENTS[@]}" h2-push "$GPORT" 20 500000)"; echo "20 unfinished 500 kB bodies on one connection: $R"
check "stream windows stay shut past the connection's budget: the client sent less than half" \
  jassert "$R" "r['refused'] == 0 and 0 < r['sent'] < 0.5 * r['offered']"
check "the gateway serves others meanwhile" test "$(search "$GPORT")" = 200
# max_body is 64 kB on the other gateways
R="$("${CLIENTS[@]}" h2-big-body "$PIPE_PORT" 1000000)"; echo "1 MB body without a length: $R"
check "a body without a length past max_body: 413 with its JSON body, then RST_STREAM(NO_ERROR)" \
  jassert "$R" "r['end_stream'] and r['rst'] == 0 and json.loads(r['answer'])['code'] == 'RESOURCE_EXHAUSTED'"
check "the stream's window is not reopened past max_body" \
  jassert "$R" "r['stream_window'] <= 65536 + 65535 and r['sent'] < 200000"

# --- HTTP/2 413 with a declared length carries its JSON body
head -c 200000 /dev/zero | tr '\0' 'a' >"$E2E_TMP/big"
nghttp -v -H 'content-type: application/json' -d "$E2E_TMP/big" "$GW/v1/auth/sessions" >"$E2E_TMP/413" 2>&1 || true
check "HTTP/2 413 arrives with its status" grep -q ':status: 413' "$E2E_TMP/413"
check "HTTP/2 413 arrives with its JSON body" grep -q '{"code":"RESOURCE_EXHAUSTED","message":"request body is too large"' "$E2E_TMP/413"
check "the stream is reset with NO_ERROR only after the answer's last DATA" /usr/bin/python3 -c "
t = open('$E2E_TMP/413').read()
d = t.index('recv DATA frame'); r = t.index('recv RST_STREAM frame')
assert d < r and 'error_code=NO_ERROR' in t[r:r + 200], t"
S="$(curl -sS -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$GW/healthz")"
check "the connection layer serves HTTP/2 after that" test "$S" = 200
finish
