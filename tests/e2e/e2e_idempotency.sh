#!/usr/bin/env bash
# e2e_idempotency.sh - idempotent writes through the real gateway and the real catalog:
# PUT /v1/items/{code} (UpsertItem, declared idempotent) with an Idempotency-Key. The
# replay answers the same body with idempotent-replayed: true and writes nothing; the
# same key with another body is 422; a bad key is 400 before any upstream call; keys
# belong to their caller; gRPC clients send the key as metadata through the pass-through.
# The effect is counted in the catalog's audit trail (one row per write).
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
B="$E2E_TMP/body"
H="$E2E_TMP/headers"
PSQL=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)
e2e_staff ga.admin 320700-GA dept_admin,dept_staff
e2e_staff platform.admin "" platform_admin
ADMIN="$(e2e_staff_token ga.admin)"
PLAT="$(e2e_staff_token platform.admin)"
check "staff log in" test -n "$ADMIN" -a -n "$PLAT"

ITEM="$(curl -sS "$GW/v1/items?department=320700-GA&pageSize=1" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["implCode"])')"
curl -sS "$GW/v1/items/$ITEM" >"$E2E_TMP/item.json"
body() { # body SUFFIX -> the item as an UpsertItem body, its conditions changed (the name
  # is the same at every level, 三级四同, so it stays)
  /usr/bin/python3 -c "
import json; it = json.load(open('$E2E_TMP/item.json')); it['conditions'] = it.get('conditions', '') + '$1'
print(json.dumps({'item': it}, ensure_ascii=False))"
}
BODY="$(body '（网上办）')"
OTHER="$(body '（窗口办）')"

put() { # put TOKEN BODY [curl args...] -> $S status, $B body, $H headers
  local t="$1" d="$2"; shift 2
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -X PUT "$GW/v1/items/$ITEM" \
    -H "authorization: Bearer $t" -H 'content-type: application/json' --data-binary "$d" "$@")"
}
writes() { "${PSQL[@]}" -c "SELECT count(*) FROM catalog.audit_log WHERE action = 'item_upsert' AND target = '$ITEM'"; }
holds() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if ($1) else 1)"; }
expect_status() { # expect_status NAME WANT
  if [ "$S" = "$2" ]; then pass "$1"; else fail "$1 (got $S: $(head -c 200 "$B"))"; fi
}

# --- the first call writes; the same key and body answer it again without writing
W0="$(writes)"
put "$ADMIN" "$BODY" -H 'idempotency-key: e2e-key-1'
expect_status "an idempotent write with a key is 200" 200
cp "$B" "$E2E_TMP/first.json"
check "the first answer is not a replay" sh -c "! grep -qi '^idempotent-replayed' '$H'"
check "the write happened once" test "$(writes)" = $((W0 + 1))
put "$ADMIN" "$BODY" -H 'idempotency-key: e2e-key-1'
expect_status "the same key and body answer 200 again" 200
check "the replay says so (idempotent-replayed: true)" grep -qi '^idempotent-replayed: true' "$H"
check "the replay is the first answer, byte for byte" cmp -s "$B" "$E2E_TMP/first.json"
check "the replay wrote nothing" test "$(writes)" = $((W0 + 1))
put "$ADMIN" "$BODY" -H 'idempotency-key: e2e-key-1' --http2-prior-knowledge
check "a replay over h2c is the same answer too" cmp -s "$B" "$E2E_TMP/first.json"
check "the answer is kept in the catalog's schema" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM catalog.idempotency WHERE key = 'e2e-key-1' AND status = 0")" = 1

# --- the same key with another body
put "$ADMIN" "$OTHER" -H 'idempotency-key: e2e-key-1'
expect_status "the same key with another body is 422" 422
check "422 has the standard error body" \
  holds "d['code']=='INVALID_ARGUMENT' and 'Idempotency-Key' in d['message'] and d['requestId']"
check "the other body wrote nothing" test "$(writes)" = $((W0 + 1))

# --- bad keys: 400 before the service is called
LONG="$(printf 'k%.0s' $(seq 256))"
put "$ADMIN" "$OTHER" -H "idempotency-key: $LONG"
expect_status "a key of 256 characters is 400" 400
check "400 has the standard error body" holds "d['code']=='INVALID_ARGUMENT' and d['requestId']"
put "$ADMIN" "$OTHER" -H "idempotency-key: $(printf 'caf\xc3\xa9')"
expect_status "a key that is not ASCII is 400" 400
check "bad keys wrote nothing" test "$(writes)" = $((W0 + 1))

# --- keys belong to their caller; without a key every call writes
put "$PLAT" "$BODY" -H 'idempotency-key: e2e-key-1'
expect_status "another caller's same key is a call of its own (200)" 200
check "and it is no replay" sh -c "! grep -qi '^idempotent-replayed' '$H'"
check "another caller's key writes" test "$(writes)" = $((W0 + 2))
put "$ADMIN" "$BODY"
expect_status "the route still takes calls without a key" 200
check "a call without a key writes" test "$(writes)" = $((W0 + 3))

# --- a second request while the first still runs: 409 with retry-after, and the first,
# cut by its deadline, keeps no claim. A transaction of our own holds the item's row,
# so the first request waits inside its write while holding the key.
lock_waiters() { "${PSQL[@]}" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"; }
"${PSQL[@]}" -c "BEGIN; SELECT 1 FROM catalog.items WHERE impl_code = '$ITEM' FOR UPDATE; SELECT pg_sleep(60); COMMIT" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 100); do [ "$("${PSQL[@]}" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND a.query LIKE '%pg_sleep(60)%' AND l.locktype = 'transactionid'")" -ge 1 ] && break; sleep 0.1; done
W1="$(writes)"
curl -sS -o "$E2E_TMP/held.json" -w '%{http_code}' -X PUT "$GW/v1/items/$ITEM" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -H 'idempotency-key: e2e-held' -H 'grpc-timeout: 3S' \
  --data-binary "$OTHER" >"$E2E_TMP/held.status" &
FIRST=$!
for _ in $(seq 100); do [ "$(lock_waiters)" -ge 1 ] && break; sleep 0.1; done
put "$ADMIN" "$OTHER" -H 'idempotency-key: e2e-held' -H 'grpc-timeout: 3S'
expect_status "the same key while the first request runs is 409" 409
check "409 says when to retry" grep -qi '^retry-after: 1' "$H"
check "409 has the standard error body" holds "d['code']=='ABORTED' and d['requestId']"
wait "$FIRST" || true
check "the first request, held past its deadline, is 504" test "$(cat "$E2E_TMP/held.status")" = 504
# the holder's backend sleeps on after its client goes: end it on the server
"${PSQL[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$HOLDER" 2>/dev/null || true
check "neither wrote" test "$(writes)" = "$W1"
put "$ADMIN" "$OTHER" -H 'idempotency-key: e2e-held'
expect_status "the key of a request cut by its deadline runs again" 200
check "and is no replay" sh -c "! grep -qi '^idempotent-replayed' '$H'"
check "it wrote once" test "$(writes)" = $((W1 + 1))

# --- gRPC clients send the key as metadata through the pass-through
mkdir -p "$E2E_TMP/py"
protoc --proto_path="$YW_SOURCE_DIR/proto" --python_out="$E2E_TMP/py" \
  "$YW_SOURCE_DIR/proto/yiwang/catalog/v1/catalog.proto" "$YW_SOURCE_DIR/proto/yiwang/files/v1/files.proto"
if PYTHONPATH="$E2E_TMP/py" /usr/bin/python3 - "${GW#http://}" "$ADMIN" "$E2E_TMP/item.json" <<'PY'
import json, sys, grpc
from google.protobuf import json_format
from yiwang.catalog.v1 import catalog_pb2 as cpb
target, token, item_file = sys.argv[1:4]
req = cpb.UpsertItemRequest(item=json_format.ParseDict(json.load(open(item_file)), cpb.Item()))
req.item.conditions += "（掌上办）"
rpc = grpc.insecure_channel(target).unary_unary(
    "/yiwang.catalog.v1.CatalogService/UpsertItem",
    request_serializer=cpb.UpsertItemRequest.SerializeToString, response_deserializer=cpb.Item.FromString)
md = [("authorization", "Bearer " + token), ("idempotency-key", "e2e-grpc-1")]
first, call1 = rpc.with_call(req, timeout=10, metadata=md)
second, call2 = rpc.with_call(req, timeout=10, metadata=md)
replayed = [dict(c.trailing_metadata()).get("idempotent-replayed") for c in (call1, call2)]
assert replayed == [None, "true"], replayed
assert first == second and first.conditions.endswith("（掌上办）"), (first.conditions, second.conditions)
req.item.conditions += "!"
try:
    rpc(req, timeout=10, metadata=md)
    sys.exit("another body was accepted")
except grpc.RpcError as e:
    tr = dict(e.trailing_metadata() or ())
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
    assert tr.get("error-reason") == "IDEMPOTENCY_KEY_REUSED", tr
PY
then pass "gRPC pass-through: the key in metadata, the replay in the trailers, reuse refused"
else fail "gRPC pass-through: the key in metadata, the replay in the trailers, reuse refused"; fi
check "the gRPC calls wrote once" test "$(writes)" = $((W1 + 2))

finish
