#!/usr/bin/env bash
# e2e_catalog.sh - the catalog through the real gateway: curl over HTTP/1.1, h2c with
# prior knowledge and TLS (ALPN h2), a real gRPC client (python3-grpcio) through the
# gateway's pass-through and straight to the service, gRPC-Web, CORS, errors, limits,
# metrics and graceful stop.
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
B="$E2E_TMP/body"
H="$E2E_TMP/headers"

get() { # get URL [curl args...] -> status in $S, body in $B, headers in $H
  local url="$1"; shift
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$@" "$url")"
}
jq_py() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); $1"; }

# --- health and readiness
get "$GW/healthz"; check "healthz answers 200" test "$S" = 200
get "$GW/readyz"; check "readyz is ready with its upstreams and redis" \
  jq_py "assert d['status']=='ready' and set(d['dependencies']) >= {'redis','catalog','identity','feed','applications'} and set(d['dependencies'].values()) == {'ok'}, d"

# --- search over HTTP/1.1
get "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=10" -H 'x-request-id: e2e-search-1'
check "search 身份证 over HTTP/1.1 is 200" test "$S" = 200
check "search 身份证 finds 居民身份证换领" jq_py "assert any(i['name']=='居民身份证换领' for i in d['items']), d"
check "search results use lowerCamelCase names" jq_py "assert 'implCode' in d['items'][0] and 'departmentName' in d['items'][0]"
check "the request id is echoed" grep -qi '^x-request-id: e2e-search-1' "$H"
check "HTTP/1.1 was used" grep -q '^HTTP/1.1 200' "$H"
CODE="$(jq_py "print([i['implCode'] for i in d['items'] if i['name']=='居民身份证换领'][0])")"

get "$GW/v1/items?q=%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7&pageSize=50"
check "search 营业执照 finds 企业设立登记" jq_py "assert any(i['name']=='企业设立登记' for i in d['items']), d"

# --- a two-character word, which has no trigram: found through the item's gram sets
# (migration 010), the items with it in their keywords first, every match counted
get "$GW/v1/items" -G --data-urlencode 'q=社保' --data-urlencode pageSize=4
check "search 社保 is 200 with a page of 4" jq_py "assert '$S'=='200' and len(d['items'])==4, d"
check "search 社保 ranks 社会保障卡申领 (社保 among its keywords) first" \
  jq_py "assert d['items'][0]['name']=='社会保障卡申领', d"
check "search 社保 counts every match" jq_py "assert d['totalSize']==$(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qAtX -c \
  "SELECT count(*) FROM catalog.items WHERE status = 'published' AND strpos(search_text, '社保') > 0"), d"

# --- pagination through the gateway
get "$GW/v1/items?pageSize=5"
TOKEN="$(jq_py "print(d['nextPageToken'])")"
FIRST="$(jq_py "print(','.join(i['implCode'] for i in d['items']))")"
check "a first page has 5 items and a total" jq_py "assert len(d['items'])==5 and d['totalSize']>=200, d"
get "$GW/v1/items?pageSize=5&pageToken=$TOKEN"
check "the second page continues without repeats" jq_py "
first=set('$FIRST'.split(','))
assert len(d['items'])==5 and not first & set(i['implCode'] for i in d['items'])"

# --- the guide over h2c and TLS
get "$GW/v1/items/$CODE" --http2-prior-knowledge
check "item detail over h2c is 200" test "$S" = 200
check "h2c was used" grep -q '^HTTP/2 200' "$H"
check "the guide carries materials, steps and the fee in fen as a string" jq_py "
assert d['name']=='居民身份证换领' and d['materials'] and d['steps']
f=d.get('fee',{})
assert 'amountFen' not in f or isinstance(f['amountFen'], str), f"
get "$GWS/v1/items/$CODE" --http2 --cacert "$E2E_TMP/tls.crt"
check "item detail over TLS negotiates h2 by ALPN" grep -q '^HTTP/2 200' "$H"
get "$GWS/v1/items/$CODE" --http1.1 --cacert "$E2E_TMP/tls.crt"
check "item detail over TLS with http/1.1" grep -q '^HTTP/1.1 200' "$H"
get "$GW/v1/departments"; check "departments are listed" jq_py "assert len(d['departments'])>=12"
get "$GW/v1/regions?level=COUNTY"; check "regions filter by level name" jq_py "assert d['regions'] and all(r['level']=='COUNTY' for r in d['regions'])"
get "$GW/v1/topics"; check "topics are listed" jq_py "assert len(d['topics'])>=10"

# --- errors: one shape, the mapped status
get "$GW/v1/items/NO-SUCH-ITEM"
check "unknown item is 404 NOT_FOUND with a request id" jq_py "assert '$S'=='404' and d['code']=='NOT_FOUND' and d['requestId']"
get "$GW/v1/items?pageSize=abc"
check "a non-number pageSize is 400" jq_py "assert '$S'=='400' and d['code']=='INVALID_ARGUMENT' and 'pageSize' in d['message'], d"
get "$GW/v1/items?colour=red"
check "an unknown query parameter is 400" jq_py "assert '$S'=='400' and 'colour' in d['message'], d"
get "$GW/v1/items?pageSize=1000"
check "a pageSize over the cap is 400 from the service" jq_py "assert '$S'=='400' and d['code']=='INVALID_ARGUMENT'"
get "$GW/v1/nothing"; check "an unknown path is 404" test "$S" = 404
get "$GW/v1/items" -X DELETE; check "a wrong method is 405" test "$S" = 405
get "$GW/v1/items/$CODE" -X PUT -H 'content-type: application/json' -d '{"item":{"name":"x"}}'
check "a catalog write without a token is 401" test "$S" = 401

# --- limits and malformed input
head -c 200000 /dev/zero | tr '\0' 'a' >"$E2E_TMP/big"
get "$GW/v1/items" -X POST -H 'content-type: application/json' --data-binary @"$E2E_TMP/big"
check "an oversized body is 413" test "$S" = 413
LONGH="$(head -c 20000 /dev/zero | tr '\0' 'b')"
get "$GW/v1/items" -H "x-long: $LONGH"
check "oversized headers are 431" test "$S" = 431
RESP="$(printf 'GARBAGE\r\n\r\n' | timeout 5 /usr/bin/python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$GW_PORT)); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).split(b'\r\n')[0].decode())")"
check "a malformed HTTP/1.1 request is 400" test "$RESP" = "HTTP/1.1 400 Bad Request"
# HTTP/2 garbage after a valid preface, and a request that stalls half-way: the
# connection is closed (GOAWAY or idle timeout), the process goes on
RESP="$(timeout 10 /usr/bin/python3 -c "
import os, socket, time
s = socket.create_connection(('127.0.0.1', $GW_PORT))
s.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + os.urandom(4096))
s.settimeout(5)
try:
    while s.recv(4096): pass
    print('closed')
except socket.timeout:
    print('still open')
except ConnectionResetError:
    print('closed')
")"
check "HTTP/2 garbage gets the connection closed" test "$RESP" = closed
RESP="$(timeout 10 /usr/bin/python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $GW_PORT))
s.sendall(b'GET /v1/items HTTP/1.1\r\nHost: x\r\nX-Slow: ')
s.settimeout(8)
t = time.time()
try:
    data = s.recv(4096)
    print('closed' if not data else 'answered')
except socket.timeout:
    print('still open')
except ConnectionResetError:
    print('closed')
")"
check "a request that stalls half-way is cut off by the idle timeout" test "$RESP" = closed
get "$GW/healthz"; check "the gateway still serves after bad input" test "$S" = 200

# --- CORS
get "$GW/v1/items" -X OPTIONS -H 'origin: https://h5.example.gov.cn' -H 'access-control-request-method: GET'
check "a preflight from an allowed origin is 204" test "$S" = 204
check "the preflight allows the origin" grep -qi '^access-control-allow-origin: https://h5.example.gov.cn' "$H"
get "$GW/v1/items" -X OPTIONS -H 'origin: https://evil.example' -H 'access-control-request-method: GET'
check "a preflight from another origin is 403" test "$S" = 403
get "$GW/v1/topics" -H 'origin: https://h5.example.gov.cn'
check "a simple request from an allowed origin gets the CORS header" grep -qi '^access-control-allow-origin: https://h5.example.gov.cn' "$H"

# --- gRPC: pass-through and direct, with a real client
mkdir -p "$E2E_TMP/py"
protoc --proto_path="$YW_SOURCE_DIR/proto" --python_out="$E2E_TMP/py" \
  "$YW_SOURCE_DIR/proto/yiwang/catalog/v1/catalog.proto" "$YW_SOURCE_DIR/proto/yiwang/files/v1/files.proto"
if PYTHONPATH="$E2E_TMP/py" /usr/bin/python3 "$(dirname "$0")/grpc_client.py" \
  "127.0.0.1:$GW_PORT" "$CATALOG_ADDR" "$CODE" "$GW"; then
  pass "gRPC pass-through and gRPC-Web behave like the service"
else
  fail "gRPC pass-through and gRPC-Web behave like the service"
fi

# --- metrics
get "$GW/metrics"
check "metrics count requests by route and status" grep -q 'yw_gateway_requests_total{route="GET /v1/items",status="200"}' "$B"
check "metrics have a latency histogram" grep -q 'yw_gateway_request_duration_seconds_bucket{route="GET /v1/items/{code}",le="+Inf"}' "$B"
check "metrics count open connections" grep -q '^yw_gateway_open_connections ' "$B"
check "access log lines are JSON with the request id" grep -q '"requestId":"e2e-search-1"' "$E2E_TMP/gateway.log"

# --- graceful stop
kill -TERM "$GATEWAY_PID"; wait "$GATEWAY_PID"; GS=$?
check "the gateway exits 0 on SIGTERM" test "$GS" = 0
kill -TERM "$CATALOG_PID"; wait "$CATALOG_PID"; CS=$?
check "the catalog exits 0 on SIGTERM" test "$CS" = 0
finish
