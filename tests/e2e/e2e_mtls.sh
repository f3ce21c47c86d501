#!/usr/bin/env bash
# e2e_mtls.sh - mutual TLS between yw-gateway and the services, with the real processes
# (e2e_start runs them on mTLS, certificates from tools/pki.sh) and a real gRPC client
# (python3-grpcio) straight at yw-catalog. Proves: a plaintext call, a TLS call without
# a client certificate and one with a certificate from another CA are refused, while
# the gateway's certificate is accepted; the gateway's own calls work (search 200); a
# gateway without certificates cannot reach the services; a service or a gateway whose
# three settings are half made, or whose files cannot be used, refuses to start with a
# clear line; and the steps of a rotation: a service restarted with a new certificate
# of the same CA is used again by the running gateway, and while the CA changes, a CA
# file holding the old and the new CA lets old and new certificates work together.
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
OTHER="$E2E_TMP/other-pki" # another CA, as an attacker with a self-made CA would have
bash "$YW_SOURCE_DIR/tools/pki.sh" dev "$OTHER"
SEARCH="/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=5"

# --- straight at yw-catalog with grpcio
mkdir -p "$E2E_TMP/py"
protoc --proto_path="$YW_SOURCE_DIR/proto" --python_out="$E2E_TMP/py" \
  "$YW_SOURCE_DIR/proto/yiwang/catalog/v1/catalog.proto" "$YW_SOURCE_DIR/proto/yiwang/files/v1/files.proto"
cat >"$E2E_TMP/py/direct.py" <<'PY'
"""direct.py TARGET CA CERT KEY: one ListItems straight at yw-catalog; CA "-" is
cleartext, CERT "-" is TLS without a client certificate. Prints OK or the status."""
import sys
import grpc
from yiwang.catalog.v1 import catalog_pb2 as pb
target, ca, cert, key = sys.argv[1:5]
read = lambda p: None if p == "-" else open(p, "rb").read()
if ca == "-":
    ch = grpc.insecure_channel(target)
else:
    ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(read(ca), read(key), read(cert)))
rpc = ch.unary_unary("/yiwang.catalog.v1.CatalogService/ListItems",
                     request_serializer=pb.ListItemsRequest.SerializeToString,
                     response_deserializer=pb.ListItemsResponse.FromString)
try:
    r = rpc(pb.ListItemsRequest(q="身份证", page_size=1), timeout=5)
    print("OK" if len(r.items) == 1 else "EMPTY")
except grpc.RpcError as e:
    print(e.code().name)
PY
direct() { # direct TARGET CA CERT KEY -> OK, or the gRPC status name
  PYTHONPATH="$E2E_TMP/py" /usr/bin/python3 "$E2E_TMP/py/direct.py" "$@" 2>/dev/null
}
P="$E2E_PKI"
R="$(direct "$CATALOG_ADDR" "$P/ca.crt" "$P/gateway.crt" "$P/gateway.key")"
check "the gateway's client certificate is accepted straight at yw-catalog ($R)" test "$R" = OK
R="$(direct "$CATALOG_ADDR" - - -)"
check "a plaintext gRPC call straight to yw-catalog is refused ($R)" test "$R" = UNAVAILABLE
R="$(direct "$CATALOG_ADDR" "$P/ca.crt" - -)"
check "a TLS call without a client certificate is refused ($R)" test "$R" = UNAVAILABLE
R="$(direct "$CATALOG_ADDR" "$P/ca.crt" "$OTHER/gateway.crt" "$OTHER/gateway.key")"
check "a client certificate from another CA is refused ($R)" test "$R" = UNAVAILABLE
R="$(direct "$CATALOG_ADDR" "$P/ca.crt" "$P/identity.crt" "$P/identity.key")"
check "a server certificate of our CA is no client certificate ($R)" test "$R" = UNAVAILABLE
R="$(direct "$IDENTITY_ADDR" - - -)"
check "yw-identity refuses plaintext too ($R)" test "$R" = UNAVAILABLE
check "yw-catalog says it serves mutual TLS" grep -q 'on 127.0.0.1:[0-9]* (mutual TLS)' "$E2E_TMP/catalog.log"

# --- through the gateway
S="$(curl -sS -o "$E2E_TMP/body" -w '%{http_code}' "$GW$SEARCH")"
check "a search through the gateway answers 200 over mutual TLS ($S)" test "$S" = 200
check "and finds items" grep -q '"implCode"' "$E2E_TMP/body"
check "the gateway sees both services ready" \
  bash -c "curl -fsS '$GW/readyz' | grep -q '\"catalog\":\"ok\"' && curl -fsS '$GW/readyz' | grep -q '\"identity\":\"ok\"'"
check "the gateway says its upstream calls are mutual TLS" \
  grep -q 'calls to the services are mutual TLS' "$E2E_TMP/gateway.log"

# gw_up NAME VAR=VALUE... -> starts a gateway on a free port with those settings on top
# of the exported ones, waits for /healthz; its base in $GWX, its log $E2E_TMP/NAME.log
gw_up() {
  local name="$1"; shift
  local port; port="$(free_port)"
  env YW_GATEWAY_LISTEN="127.0.0.1:$port" YW_GATEWAY_TLS_LISTEN="" \
    YW_UPSTREAM_CATALOG="$CATALOG_ADDR" YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" \
    YW_REDIS_PREFIX="$E2E_DB" "$@" "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/$name.log" 2>&1 &
  E2E_PIDS+=("$!")
  GWX="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -fsS "$GWX/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# answers GW WANT -> the search on GW answers WANT within 15 s (connections come up)
answers() {
  local s=""
  for _ in $(seq 75); do
    s="$(curl -sS -o /dev/null -w '%{http_code}' "$1$SEARCH")"
    [ "$s" = "$2" ] && return 0
    sleep 0.2
  done
  echo "last answer $s"; return 1
}

gw_up plain YW_TLS_CA= YW_TLS_CERT= YW_TLS_KEY=
check "a gateway without certificates cannot reach the services (503)" answers "$GWX" 503
check "and its /readyz says so" bash -c "curl -sS '$GWX/readyz' | grep -q '\"catalog\":\"unavailable\"'"

gw_up foreign YW_TLS_CERT="$OTHER/gateway.crt" YW_TLS_KEY="$OTHER/gateway.key"
check "a gateway with another CA's certificate cannot reach them (503)" answers "$GWX" 503

# --- start-up refusals: exit 2 (settings) or 1 (files), a clear line, never serving
# svc_start NAME VAR=VALUE... -> yw-catalog's exit code (124: it kept running); output
# in $E2E_TMP/NAME.out
svc_start() {
  local name="$1"; shift
  local rc=0
  env YW_CATALOG_LISTEN="127.0.0.1:$(free_port)" YW_REDIS_PREFIX="$E2E_DB" "$@" \
    timeout 10 "$YW_BUILD_DIR/services/catalog/yw-catalog" >"$E2E_TMP/$name.out" 2>&1 || rc=$?
  return "$rc"
}
RC=0; svc_start only-cert YW_TLS_CA= YW_TLS_CERT="$P/catalog.crt" YW_TLS_KEY= || RC=$?
check "yw-catalog with only YW_TLS_CERT set refuses to start (exit $RC)" test "$RC" = 2
check "and says the CA and the key are missing" \
  grep -q 'mutual TLS needs YW_TLS_CA, YW_TLS_CERT and YW_TLS_KEY together, but YW_TLS_CA and YW_TLS_KEY are empty' \
  "$E2E_TMP/only-cert.out"
RC=0
env YW_IDENTITY_LISTEN="127.0.0.1:$(free_port)" YW_TLS_CA="$P/ca.crt" YW_TLS_CERT="$P/identity.crt" \
  YW_TLS_KEY= timeout 10 "$YW_BUILD_DIR/services/identity/yw-identity" >"$E2E_TMP/identity-half.out" 2>&1 || RC=$?
check "yw-identity with the key missing refuses to start (exit $RC)" \
  bash -c "test $RC = 2 && grep -q 'but YW_TLS_KEY is empty' '$E2E_TMP/identity-half.out'"
RC=0; svc_start no-key YW_TLS_CA="$P/ca.crt" YW_TLS_CERT="$P/catalog.crt" YW_TLS_KEY="$E2E_TMP/nothing.key" || RC=$?
check "yw-catalog with a missing key file refuses to start (exit $RC)" test "$RC" = 1
check "and names the file" grep -q "key file $E2E_TMP/nothing.key: No such file or directory" "$E2E_TMP/no-key.out"
RC=0; svc_start wrong-key YW_TLS_CA="$P/ca.crt" YW_TLS_CERT="$P/catalog.crt" YW_TLS_KEY="$P/identity.key" || RC=$?
check "yw-catalog with another certificate's key refuses to start (exit $RC)" \
  bash -c "test $RC = 1 && grep -q 'identity.key does not belong to the certificate in' '$E2E_TMP/wrong-key.out'"
RC=0
env YW_GATEWAY_LISTEN="127.0.0.1:$(free_port)" YW_GATEWAY_TLS_LISTEN="" YW_TLS_KEY= \
  timeout 10 "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gw-half.out" 2>&1 || RC=$?
check "a gateway with YW_TLS_KEY missing refuses to start (exit $RC)" \
  bash -c "test $RC = 2 && grep -q 'but YW_TLS_KEY is empty' '$E2E_TMP/gw-half.out'"
RC=0
env YW_GATEWAY_LISTEN="127.0.0.1:$(free_port)" YW_GATEWAY_TLS_LISTEN="" YW_TLS_CA="$E2E_TMP/nothing.crt" \
  timeout 10 "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gw-noca.out" 2>&1 || RC=$?
check "a gateway with a missing CA file refuses to start naming it (exit $RC)" \
  bash -c "test $RC = 2 && grep -q 'CA file $E2E_TMP/nothing.crt: No such file or directory' '$E2E_TMP/gw-noca.out'"

# --- rotation, step by step
# A new certificate of the same CA: the service restarts with it (SIGTERM, start), the
# running gateway reconnects and is served without a restart of its own.
bash "$YW_SOURCE_DIR/tools/pki.sh" server "$P" catalog-next
kill "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null || true
YW_CATALOG_LISTEN="$CATALOG_ADDR" YW_REDIS_PREFIX="$E2E_DB" YW_TLS_CA="$P/ca.crt" \
  YW_TLS_CERT="$P/catalog-next.crt" YW_TLS_KEY="$P/catalog-next.key" \
  "$YW_BUILD_DIR/services/catalog/yw-catalog" >"$E2E_TMP/catalog-next.log" 2>&1 &
CATALOG_PID=$!
E2E_PIDS+=("$CATALOG_PID")
check "after yw-catalog restarts with a new certificate the running gateway is served again" \
  answers "$GW" 200

# A new CA: while it changes, CA files hold both (old first). A copy of yw-catalog with
# the new CA's certificate serves gateways with an old or a new certificate when both
# trust both CAs; a gateway that trusts only the old CA does not reach it.
NEXT="$E2E_TMP/next-pki"
bash "$YW_SOURCE_DIR/tools/pki.sh" dev "$NEXT"
cat "$P/ca.crt" "$NEXT/ca.crt" >"$E2E_TMP/both-ca.crt"
ROT_ADDR="127.0.0.1:$(free_port)"
YW_CATALOG_LISTEN="$ROT_ADDR" YW_REDIS_PREFIX="$E2E_DB" YW_TLS_CA="$E2E_TMP/both-ca.crt" \
  YW_TLS_CERT="$NEXT/catalog.crt" YW_TLS_KEY="$NEXT/catalog.key" \
  "$YW_BUILD_DIR/services/catalog/yw-catalog" >"$E2E_TMP/catalog-rot.log" 2>&1 &
E2E_PIDS+=("$!")
gw_up gw-old-cert YW_UPSTREAM_CATALOG="$ROT_ADDR" YW_TLS_CA="$E2E_TMP/both-ca.crt"
check "rotation: an old certificate, both CAs trusted, reaches a new-CA service" answers "$GWX" 200
gw_up gw-new-cert YW_UPSTREAM_CATALOG="$ROT_ADDR" YW_TLS_CA="$E2E_TMP/both-ca.crt" \
  YW_TLS_CERT="$NEXT/gateway.crt" YW_TLS_KEY="$NEXT/gateway.key"
check "rotation: a new certificate, both CAs trusted, reaches it too" answers "$GWX" 200
gw_up gw-old-ca YW_UPSTREAM_CATALOG="$ROT_ADDR"
check "rotation: a gateway trusting only the old CA does not (so every CA file first)" \
  answers "$GWX" 503

finish
