#!/usr/bin/env bash
# e2e_platform.sh - the test service (tests/testsvc, yw-testsvc) through the real gateway
# (yw-gateway-test), standing on every platform piece at once: an idempotent write whose
# event goes through the outbox, the relay, the stream and a consumer into the resident's
# live feed (Server-Sent Events, resumed with Last-Event-ID); keyset paging; the
# well-known JSON types; a path variable over segments; a gRPC-only method; an upload
# stored in yw-files and passed by reference, downloaded with the service's consent; a
# deferred handler that calls yw-catalog with the caller, request id and deadline; and
# web pages from the gateway. Every process speaks mutual TLS to the others.
source "$(dirname "$0")/lib.sh"
sse_read() { /usr/bin/python3 "$YW_SOURCE_DIR/tests/e2e/sse_read.py" "$@"; }

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
# yw-feed (started by e2e_start) fills residents' feeds from the test service's stream
export E2E_FEED_STREAMS="$E2E_DB:events:{testsvc}"
e2e_database
e2e_start # identity, catalog and the city's gateway (residents log in through it)
bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" testsvc "DNS:localhost,IP:127.0.0.1" >/dev/null
bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" files "DNS:localhost,IP:127.0.0.1" >/dev/null
bash "$YW_SOURCE_DIR/tools/pki.sh" client "$E2E_PKI" testsvc-client >/dev/null

B="$E2E_TMP/body"; H="$E2E_TMP/headers"
"$YW_BUILD_DIR/services/files/yw-files" --migrate-only
"$YW_BUILD_DIR/tests/testsvc/yw-testsvc" --migrate-only

FILES_ADDR="127.0.0.1:$(free_port)"
YW_FILES_LISTEN="$FILES_ADDR" YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/files.crt" \
  YW_TLS_KEY="$E2E_PKI/files.key" "$YW_BUILD_DIR/services/files/yw-files" \
  >"$E2E_TMP/files.log" 2>&1 &
E2E_PIDS+=("$!")
NOTES_ADDR="127.0.0.1:$(free_port)"
YW_TESTSVC_LISTEN="$NOTES_ADDR" YW_TESTSVC_CATALOG="$CATALOG_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
  YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/testsvc.crt" YW_TLS_KEY="$E2E_PKI/testsvc.key" \
  YW_TLS_CLIENT_CERT="$E2E_PKI/testsvc-client.crt" YW_TLS_CLIENT_KEY="$E2E_PKI/testsvc-client.key" \
  "$YW_BUILD_DIR/tests/testsvc/yw-testsvc" >"$E2E_TMP/testsvc.log" 2>&1 &
E2E_PIDS+=("$!")

mkdir -p "$E2E_TMP/web"
printf '<!doctype html><title>notes</title><p>notes</p>\n' >"$E2E_TMP/web/index.html"
TPORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$TPORT" YW_GATEWAY_TLS_LISTEN="" \
  YW_UPSTREAM_TEST="$NOTES_ADDR" YW_UPSTREAM_FILES="$FILES_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
  YW_GATEWAY_STATIC="/=$E2E_TMP/web" YW_GATEWAY_THREADS=2 YW_GATEWAY_SSE_HEARTBEAT_MS=500 \
  YW_GATEWAY_RATE_IP=100000 YW_GATEWAY_BURST_IP=100000 \
  YW_GATEWAY_RATE_SUBJECT=100000 YW_GATEWAY_BURST_SUBJECT=100000 \
  "$YW_BUILD_DIR/tests/yw-gateway-test" >"$E2E_TMP/gateway-test.log" 2>&1 &
E2E_PIDS+=("$!")
T="http://127.0.0.1:$TPORT"
for _ in $(seq 150); do
  curl -fsS "$T/readyz" 2>/dev/null | grep -q '"test":"ok"' &&
    curl -fsS "$T/readyz" | grep -q '"files":"ok"' && break
  sleep 0.2
done
if ! curl -fsS "$T/readyz" | grep -q '"test":"ok"'; then
  echo "the test service or its gateway did not become ready"; curl -sS "$T/readyz"
  for f in "$E2E_TMP"/testsvc.log "$E2E_TMP"/files.log "$E2E_TMP"/gateway-test.log; do
    echo "==> $f"; grep -v '"http.access"' "$f" | tail -n 20
  done
  exit 1
fi

req() { # req BASE METHOD PATH [TOKEN] [JSON] [extra curl args...] -> $S status, $B body
  local base="$1" m="$2" p="$3" t="${4:-}" d="${5:-}"
  shift 5 2>/dev/null || shift $#
  local args=(-sS -o "$B" -D "$H" -w '%{http_code}' -X "$m" "$base$p")
  [ -n "$t" ] && args+=(-H "authorization: Bearer $t")
  [ -n "$d" ] && args+=(-H 'content-type: application/json' --data-binary "$d")
  S="$(curl "${args[@]}" "$@")"
}
field() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); print($1)"; }
holds() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if ($1) else 1)"; }
expect_status() { if [ "$S" = "$2" ]; then pass "$1"; else fail "$1 (got $S: $(head -c 300 "$B"))"; fi; }
psql_q() { psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtAc "$1"; }
login() { # a resident logged in by SMS code through the city's gateway
  req "$GW" POST /v1/auth/sms-codes "" "{\"phone\":\"$1\"}"
  local code
  code="$(curl -fsS "$FAKES/sms/last?phone=$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["code"])')"
  req "$GW" POST /v1/auth/sessions "" "{\"phone\":\"$1\",\"code\":\"$code\"}"
  field "d['accessToken']"
}
RES="$(login 13800001111)"; OTHER="$(login 13800002222)"
check "two residents logged in" test -n "$RES" -a -n "$OTHER"

# --- a live feed open before anything happens: it must see what follows, in order
sse_read "$T/v1/test/notes:watch" "$RES" 6 >"$E2E_TMP/live.sse" &
LIVE_PID=$!
for _ in $(seq 300); do grep -q '^retry:' "$E2E_TMP/live.sse" 2>/dev/null && break; sleep 0.1; done

# --- idempotent write + event in the same transaction
NOTE='{"text":"passport renewal","priority":3,"itemCode":""}'
req "$T" POST /v1/test/notes "$RES" "$NOTE" -H 'idempotency-key: k-1'
expect_status "a note is created" 200
N1="$(field "d['name']")"; FIRST="$(cat "$B")"
check "its name is notes/<id>" bash -c "[[ '$N1' =~ ^notes/[0-9]+$ ]]"
check "createTime is RFC 3339 (Timestamp) and priority a number (Int32Value)" \
  holds "d['createTime'].endswith('Z') and 'T' in d['createTime'] and d['priority'] == 3"
req "$T" POST /v1/test/notes "$RES" "$NOTE" -H 'idempotency-key: k-1'
expect_status "the same key again answers 200" 200
check "with the first answer, byte for byte" test "$(cat "$B")" = "$FIRST"
check "and says it was replayed" grep -qi '^idempotent-replayed: true' "$H"
req "$T" POST /v1/test/notes "$RES" '{"text":"another"}' -H 'idempotency-key: k-1'
expect_status "the same key with another body is 422" 422
req "$T" POST /v1/test/notes "$OTHER" "$NOTE" -H 'idempotency-key: k-1'
expect_status "another resident's same key is theirs (200)" 200
check "one note per resident was written" test "$(psql_q "SELECT count(*) FROM testsvc.notes WHERE text = 'passport renewal'")" = 2
check "one event per write went through the outbox" \
  test "$(psql_q "SELECT count(*) FROM testsvc.outbox WHERE type = 'note.created'")" = 2
req "$T" POST /v1/test/notes "$RES" '{"text":""}' -H 'idempotency-key: k-2'
expect_status "an empty text is 400" 400
req "$T" POST /v1/test/notes "$RES" '{"text":"x","priority":12}'
expect_status "a priority out of range is 400" 400
req "$T" POST /v1/test/notes "" "$NOTE"
expect_status "without a session 401" 401

# --- reads: a path variable over segments, the owner's only
req "$T" GET "/v1/test/$N1" "$RES"
expect_status "GET /v1/test/notes/<id> reads it" 200
check "the same note" holds "d['name'] == '$N1' and d['text'] == 'passport renewal'"
req "$T" GET "/v1/test/$N1" "$OTHER"
expect_status "another resident's note is 404" 404
req "$T" GET "/v1/test/notes/abc" "$RES"
expect_status "a malformed name is 400" 400

# --- paging
for i in 1 2 3 4 5; do
  req "$T" POST /v1/test/notes "$RES" "{\"text\":\"page $i\"}" -H "idempotency-key: p-$i"
done
req "$T" GET "/v1/test/notes?prefix=page&pageSize=2" "$RES"
P1="$(field "','.join(n['text'] for n in d['notes'])")"; TOK="$(field "d.get('nextPageToken','')")"
req "$T" GET "/v1/test/notes?prefix=page&pageSize=2&pageToken=$TOK" "$RES"
P2="$(field "','.join(n['text'] for n in d['notes'])")"; TOK2="$(field "d.get('nextPageToken','')")"
req "$T" GET "/v1/test/notes?prefix=page&pageSize=2&pageToken=$TOK2" "$RES"
P3="$(field "','.join(n['text'] for n in d['notes'])")"
check "three pages walk every note once, in order" \
  test "$P1|$P2|$P3" = "page 1,page 2|page 3,page 4|page 5"
check "the last page has no token" holds "'nextPageToken' not in d or d['nextPageToken'] == ''"
req "$T" GET "/v1/test/notes?prefix=pass&pageSize=2&pageToken=$TOK" "$RES"
expect_status "a token with other filters is 400" 400

# --- the live feed saw the resident's notes (outbox -> relay -> stream -> consumer -> SSE)
wait "$LIVE_PID" || true
check "the open stream got the 6 notes as events, in order" /usr/bin/python3 - "$E2E_TMP/live.sse" <<'PY'
import json, sys
ev = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("data:")]
texts = [e["note"]["text"] for e in ev]
sys.exit(0 if texts == ["passport renewal"] + ["page %d" % i for i in range(1, 6)] else 1)
PY
check "each event has an id line" test "$(grep -c '^id: ' "$E2E_TMP/live.sse")" -ge 6
if [ "$(grep -c '^data:' "$E2E_TMP/live.sse")" -lt 6 ]; then # what a failure needs to be understood
  echo "--- the live stream got:"; head -c 3000 "$E2E_TMP/live.sse"
  for f in testsvc gateway-test; do echo "--- $f:"; grep -v '"http.access"' "$E2E_TMP/$f.log" | tail -n 15; done
  grep 'notes:watch' "$E2E_TMP/gateway-test.log" | tail -n 5
fi
check "the other resident's note is not in this feed" bash -c "! grep -q '$OTHER' '$E2E_TMP/live.sse'"
ID2="$(grep '^id: ' "$E2E_TMP/live.sse" | sed -n 2p | cut -d' ' -f2 | tr -d '\r')"
sse_read "$T/v1/test/notes:watch" "$RES" 4 "$ID2" >"$E2E_TMP/resume.sse" || true
sse_read "$T/v1/test/notes:watch" "$RES" 6 >"$E2E_TMP/beats.sse" || true
check "Last-Event-ID resumes after it: the 4 later events only" /usr/bin/python3 - "$E2E_TMP/resume.sse" <<'PY'
import json, sys
ev = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("data:")]
sys.exit(0 if [e["note"]["text"] for e in ev] == ["page %d" % i for i in range(2, 6)] else 1)
PY
check "a stream starts with its retry: hint" grep -q '^retry: ' "$E2E_TMP/beats.sse"
req "$T" GET "/v1/test/notes:watch" "$RES" "" -H "last-event-id: nope" --max-time 3
expect_status "a malformed Last-Event-ID is 400" 400

# --- the city's feed (yw-feed) got the same notes from the test service's feed.entry events
for _ in $(seq 50); do
  req "$GW" GET /v1/me/feed/entries "$RES"
  [ "$S" = 200 ] && holds "len(d.get('entries', [])) >= 6" && break
  sleep 0.2
done
check "GET /v1/me/feed/entries lists the resident's 6 entries, newest first" \
  holds "[e['body'] for e in d['entries']] == ['page %d' % i for i in range(5, 0, -1)] + ['passport renewal'] and d['entries'][0]['type'] == 'note.created' and d['entries'][0]['source'] != ''"
req "$GW" GET "/v1/me/feed/entries?pageSize=4" "$RES"
FTOK="$(field "d['nextPageToken']")"
req "$GW" GET "/v1/me/feed/entries?pageSize=4&pageToken=$FTOK" "$RES"
check "and pages on" holds "[e['body'] for e in d['entries']] == ['page 1', 'passport renewal']"
req "$GW" GET /v1/me/feed/entries "$OTHER"
check "the other resident's feed holds only their own note" \
  holds "[e['body'] for e in d['entries']] == ['passport renewal'] and d['entries'][0]['link'] != '$N1'"
sse_read "$GW/v1/me/feed" "$RES" 6 >"$E2E_TMP/city.sse" || true
check "GET /v1/me/feed streams them as events (oldest first) with ids" /usr/bin/python3 - "$E2E_TMP/city.sse" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ev = [json.loads(l[5:]) for l in lines if l.startswith("data:")]
ids = [l[4:] for l in lines if l.startswith("id: ")]
ok = [e["body"] for e in ev] == ["passport renewal"] + ["page %d" % i for i in range(1, 6)]
sys.exit(0 if ok and len(ids) == 6 and "event: entry" in lines else 1)
PY
sse_read "$GW/v1/me/feed" "$RES" 1 \
  "$(grep '^id: ' "$E2E_TMP/city.sse" | sed -n 5p | cut -d' ' -f2 | tr -d '\r')" >"$E2E_TMP/city2.sse" || true
check "and resume after Last-Event-ID" bash -c "[ \$(grep -c '^data:' '$E2E_TMP/city2.sse') = 1 ] && grep -q 'page 5' '$E2E_TMP/city2.sse'"
req "$GW" GET /v1/me/feed/entries ""
expect_status "the feed needs a session (401)" 401
QUIET="$(login 13800003333)"
sse_read "$GW/v1/me/feed" "$QUIET" head >"$E2E_TMP/quiet.sse" || true
check "an empty feed's stream opens without waiting for a heartbeat (its head and retry: hint)" \
  grep -q '^retry: ' "$E2E_TMP/quiet.sse"

# the consumer's lag and the open streams are in the feed's own /metrics
curl -fsS "http://$FEED_METRICS/metrics" >"$E2E_TMP/feed.metrics"
check "yw-feed's /metrics has its consumer's lag, nothing pending, no dead letters" bash -c "
  grep -q '^yw_events_consumer_lag{stream=\"$E2E_DB:events:{testsvc}\",group=\"feed\"} 0' '$E2E_TMP/feed.metrics' &&
  grep -q '^yw_events_consumer_pending{.*} 0' '$E2E_TMP/feed.metrics' &&
  grep -q '^yw_events_dead_letters{.*} 0' '$E2E_TMP/feed.metrics' &&
  grep -q '^yw_events_consumer_handled_total{.*} [1-9]' '$E2E_TMP/feed.metrics' &&
  grep -q '^yw_rpc_streams_total [1-9]' '$E2E_TMP/feed.metrics'"
check "and /healthz answers" curl -fsS "http://$FEED_METRICS/healthz"

# a second copy of yw-feed that consumes nothing, behind a second gateway: a live stream
# there is woken by the first copy's publish when the first copy consumes the entry
FEED2_ADDR="127.0.0.1:$(free_port)"
YW_FEED_LISTEN="$FEED2_ADDR" YW_REDIS_PREFIX="$E2E_DB" YW_FEED_STREAMS="" \
  YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/feed.crt" YW_TLS_KEY="$E2E_PKI/feed.key" \
  "$YW_BUILD_DIR/services/feed/yw-feed" >"$E2E_TMP/feed2.log" 2>&1 &
E2E_PIDS+=("$!")
G2PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$G2PORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_FEED="$FEED2_ADDR" \
  YW_UPSTREAM_CATALOG="$CATALOG_ADDR" YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" \
  YW_REDIS_PREFIX="$E2E_DB" YW_GATEWAY_THREADS=1 \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway2.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$G2PORT/readyz" 2>/dev/null | grep -qv unavailable && break; sleep 0.1
done
LAST="$(grep '^id: ' "$E2E_TMP/city.sse" | tail -1 | cut -d' ' -f2 | tr -d '\r')"
sse_read "http://127.0.0.1:$G2PORT/v1/me/feed" "$RES" "text:seen on the other copy" "$LAST" \
  >"$E2E_TMP/copy2.sse" &
C2=$!
# the stream is open on the second copy (its head came) before the note is written
for _ in $(seq 300); do grep -q '^retry:' "$E2E_TMP/copy2.sse" 2>/dev/null && break; sleep 0.1; done
req "$T" POST /v1/test/notes "$RES" '{"text":"seen on the other copy"}'
wait "$C2" || true
check "a stream on a copy that consumes nothing gets the entry live (shared wake)" \
  grep -q 'seen on the other copy' "$E2E_TMP/copy2.sse"

# a backlog larger than a stream's queue (256) reaches the client whole, in order
req "$GW" GET /v1/me "$RES"; SUBJ="$(field "d['subject']")"
psql_q "INSERT INTO feed.entries (event_id, subject, type, title, body, source)
        SELECT gen_random_uuid(), '$SUBJ', 'test.backlog', 'backlog', 'b' || g, 'e2e'
        FROM generate_series(1, 1000) g" >/dev/null
sse_read "$GW/v1/me/feed" "$RES" "text:\"b1000\"" >"$E2E_TMP/backlog.sse" || true
check "a backlog of 1,000 entries more than the queue holds arrives whole and in order" \
  /usr/bin/python3 - "$E2E_TMP/backlog.sse" <<'PY'
import json, sys
ev = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("data:")]
b = [e["body"] for e in ev if e["type"] == "test.backlog"]
sys.exit(0 if b == ["b%d" % i for i in range(1, 1001)] else 1)
PY

# --- upload by reference, download with the service's consent
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82' >"$E2E_TMP/dot.png"
SHA="$(sha256sum "$E2E_TMP/dot.png" | cut -d' ' -f1)"
S="$(curl -sS -o "$B" -w '%{http_code}' -H "authorization: Bearer $RES" \
  -F "files=@$E2E_TMP/dot.png;type=image/png" "$T/v1/test/$N1/attachments")"
expect_status "a PNG is attached by multipart upload" 200
check "the note holds its reference: SHA-256, size, sniffed type, name" \
  holds "d['attachments'][0]['sha256'] == '$SHA' and d['attachments'][0]['size'] == '$(stat -c %s "$E2E_TMP/dot.png")' and d['attachments'][0]['contentType'] == 'image/png' and d['attachments'][0]['name'] == 'dot.png'"
check "the bytes are in the file store, not in the service's schema" \
  test "$(psql_q "SELECT count(*) FROM testsvc.note_files WHERE sha256 = '$SHA'")" = 1
printf 'MZ\x90\0 not an image' >"$E2E_TMP/evil.png"
S="$(curl -sS -o "$B" -w '%{http_code}' -H "authorization: Bearer $RES" \
  -F "files=@$E2E_TMP/evil.png;type=image/png" "$T/v1/test/$N1/attachments")"
expect_status "bytes that are not what they claim are 415" 415
S="$(curl -sS -o "$E2E_TMP/got.png" -D "$H" -w '%{http_code}' -H "authorization: Bearer $RES" \
  "$T/v1/test/files/$SHA")"
check "the owner downloads it (200, same bytes)" bash -c "[ '$S' = 200 ] && cmp -s '$E2E_TMP/got.png' '$E2E_TMP/dot.png'"
check "with an ETag" grep -qi "^etag: .*$SHA" "$H"
S="$(curl -sS -o /dev/null -w '%{http_code}' -H "authorization: Bearer $OTHER" "$T/v1/test/files/$SHA")"
check "another resident may not (404)" test "$S" = 404

# --- a deferred handler calling the catalog (caller, request id and deadline carried)
CODE="$(psql_q "SELECT impl_code FROM catalog.items WHERE status = 'published' ORDER BY impl_code LIMIT 1")"
NAME="$(psql_q "SELECT name FROM catalog.items WHERE impl_code = '$CODE'")"
req "$T" POST /v1/test/notes "$RES" "{\"text\":\"about an item\",\"itemCode\":\"$CODE\"}"
N2="$(field "d['name']")"
req "$T" GET "/v1/test/$N2/item" "$RES" "" -H 'x-request-id: platform-item-1'
expect_status "GetNoteItem answers through the catalog" 200
check "with the catalog's name of the item" holds "d['itemName'] == '''$NAME''' and d['note']['name'] == '$N2'"
req "$T" POST /v1/test/notes "$RES" '{"text":"about nothing","itemCode":"NO-SUCH-ITEM"}'
N3="$(field "d['name']")"
req "$T" GET "/v1/test/$N3/item" "$RES"
expect_status "an item the catalog does not know is 404" 404

# --- gRPC only: no REST path, reachable by its gRPC path with the caller vouched for
req "$T" GET /v1/test/ping "$RES"
expect_status "a gRPC-only method has no REST path (404)" 404
PY="$E2E_TMP/py"; mkdir -p "$PY"
if /usr/bin/python3 - "127.0.0.1:$TPORT" "$RES" <<'PY'
import sys
import grpc
target, token = sys.argv[1:3]
ch = grpc.insecure_channel(target)
ping = ch.unary_unary("/yiwang.test.v1.NotesService/Ping",
                      request_serializer=lambda b: b, response_deserializer=lambda b: b)
reply = ping(b"", metadata=[("authorization", "Bearer " + token)], timeout=5)
# PingReply: field 1 subject (string), field 2 kind (string)
def fields(b):
    i, out = 0, {}
    while i < len(b):
        tag, n = b[i], b[i + 1]
        out[tag >> 3] = b[i + 2:i + 2 + n].decode()
        i += 2 + n
    return out
f = fields(reply)
sys.exit(0 if f.get(2) == "person" and f.get(1) else 1)
PY
then pass "Ping over gRPC through the gateway names the resident"; else fail "Ping over gRPC"; fi

# --- web pages from the same gateway
S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$T/")"
check "the web root is served with a Content-Security-Policy" \
  bash -c "[ '$S' = 200 ] && grep -qi '^content-security-policy:' '$H' && grep -q notes '$B'"

finish
