#!/usr/bin/env bash
# bench/run.sh - catalog search and item detail through the gateway (JSON over h2c and
# HTTP/1.1, gRPC pass-through), straight to yw-catalog (gRPC), and a static answer of
# the same gateway as the baseline, all in one run against `./dev up`. With nginx
# installed (apt-get install nginx-light) the same gRPC calls also go through nginx
# grpc_pass in front of the same yw-catalog, for a ratio against a known proxy; with
# Debian's nghttp2-server installed, nghttpd serving a file of the same size is the
# static ceiling for the gateway's /healthz; with Debian's grpc-gateway packages
# installed (golang-go golang-grpc-gateway
# golang-github-grpc-ecosystem-grpc-gateway-dev golang-goprotobuf-dev
# golang-google-grpc-dev golang-google-genproto-dev), the same JSON routes also go
# through a grpc-gateway built from bench/grpc-gateway (routes in routes.yaml, no
# annotations).
# Then bench/static.sh: web pages through the gateway's static phase and through
# nghttpd serving the same directory.
#
# Closed-loop throughput and latency from h2load (per-request times from --log-file,
# so p50/p99 are real percentiles). Noisy machines: compare ratios within one run.
#
#   bench/run.sh [-n REQUESTS] [-c CLIENTS] [-m STREAMS_PER_CLIENT]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=20000 C=10 M=5
while getopts n:c:m: o; do case $o in n) N=$OPTARG ;; c) C=$OPTARG ;; m) M=$OPTARG ;; *) exit 2 ;; esac; done
GW="${YW_BENCH_GATEWAY:-http://127.0.0.1:8080}"
CATALOG="${YW_BENCH_CATALOG:-127.0.0.1:50052}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"; [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null; [ -n "${GG_PID:-}" ] && kill "$GG_PID" 2>/dev/null; [ -n "${CLEAR_PID:-}" ] && kill "$CLEAR_PID" 2>/dev/null; true' EXIT

curl -fsS "$GW/readyz" >/dev/null || { echo "start the system first: ./dev up" >&2; exit 1; }

# ./dev up serves yw-catalog on mutual TLS only, and h2load (like nginx's and
# grpc-gateway's cleartext upstreams here) shows no client certificate: unless
# YW_BENCH_CATALOG names a catalog, the direct and peer rows go to a cleartext copy of
# yw-catalog started here with the running copy's settings (same database, cache and
# threads) on a free port. The gateway's rows keep going over mutual TLS.
CAT_PIDFILE="$ROOT/.dev/run/catalog.pid"
MTLS_CATALOG=""
if [ -z "${YW_BENCH_CATALOG:-}" ] && [ -f "$CAT_PIDFILE" ] &&
  grep -qz '^YW_TLS_CERT=.' "/proc/$(cat "$CAT_PIDFILE")/environ" 2>/dev/null; then
  CPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (while IFS= read -r -d '' kv; do case "$kv" in YW_*) export "$kv" ;; esac; done \
     <"/proc/$(cat "$CAT_PIDFILE")/environ"
   export YW_CATALOG_LISTEN="127.0.0.1:$CPORT" YW_TLS_CA= YW_TLS_CERT= YW_TLS_KEY= YW_TLS_CLIENT_NAMES=
   exec "$ROOT/build/services/catalog/yw-catalog") >"$TMP/catalog-cleartext.log" 2>&1 &
  CLEAR_PID=$!
  MTLS_CATALOG="$CATALOG"
  CATALOG="127.0.0.1:$CPORT"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$CPORT") 2>/dev/null && break; sleep 0.1; done
  echo "(direct and peer rows: a cleartext copy of yw-catalog on $CATALOG; the gateway calls the mutual-TLS one)"
fi
CODE="$(curl -fsS "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=1" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["implCode"])')"

# gRPC request bodies (length-prefixed messages) made with the real classes
protoc --proto_path="$ROOT/proto" --python_out="$TMP" "$ROOT/proto/yiwang/catalog/v1/catalog.proto" \
  "$ROOT/proto/yiwang/files/v1/files.proto"
PYTHONPATH="$TMP" /usr/bin/python3 - "$TMP" "$CODE" <<'PY'
import struct, sys
from yiwang.catalog.v1 import catalog_pb2 as pb
tmp, code = sys.argv[1:3]
def frame(m):
    b = m.SerializeToString(); return b"\0" + struct.pack(">I", len(b)) + b
open(f"{tmp}/search.grpc", "wb").write(frame(pb.ListItemsRequest(q="身份证", page_size=10)))
open(f"{tmp}/get.grpc", "wb").write(frame(pb.GetItemRequest(code=code)))
PY

GRPC_H=(-H 'content-type: application/grpc' -H 'te: trailers')
printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME h2load-args...
  local name="$1"; shift
  rm -f "$TMP/log" # h2load appends to its log file
  h2load -n "$N" -c "$C" -m "$M" -t 1 --log-file="$TMP/log" "$@" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$name" "$TMP/out" "$TMP/log"
}

run "baseline: gateway static /healthz (h2c)" "$GW/healthz"
# the static ceiling: nghttpd (Debian nghttp2-server) serving a file of the same size
if command -v nghttpd >/dev/null 2>&1; then
  mkdir -p "$TMP/static"
  curl -fsS "$GW/healthz" >"$TMP/static/healthz"
  SPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  nghttpd --no-tls -n "$(nproc)" -d "$TMP/static" "$SPORT" >/dev/null 2>&1 & NGHTTPD_PID=$!
  for _ in $(seq 50); do curl -fsS --http2-prior-knowledge "http://127.0.0.1:$SPORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  run "ceiling: nghttpd static file, same size (h2c)" "http://127.0.0.1:$SPORT/healthz"
  kill "$NGHTTPD_PID" 2>/dev/null || true
else
  echo "(nghttpd not installed: apt-get install nghttp2-server for the static ceiling)"
fi
run "search JSON via gateway (h2c)" "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=10"
run "search JSON via gateway (HTTP/1.1)" --h1 "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=10"
run "search gRPC via gateway pass-through" "${GRPC_H[@]}" -d "$TMP/search.grpc" "$GW/yiwang.catalog.v1.CatalogService/ListItems"
run "search gRPC direct to yw-catalog" "${GRPC_H[@]}" -d "$TMP/search.grpc" "http://$CATALOG/yiwang.catalog.v1.CatalogService/ListItems"
run "detail JSON via gateway (h2c)" "$GW/v1/items/$CODE"
run "detail gRPC via gateway pass-through" "${GRPC_H[@]}" -d "$TMP/get.grpc" "$GW/yiwang.catalog.v1.CatalogService/GetItem"
run "detail gRPC direct to yw-catalog" "${GRPC_H[@]}" -d "$TMP/get.grpc" "http://$CATALOG/yiwang.catalog.v1.CatalogService/GetItem"

if command -v nginx >/dev/null 2>&1; then
  NPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$TMP/nginx"
  NGINX_SCHEME=grpc
  [ -n "$MTLS_CATALOG" ] && NGINX_SCHEME=grpcs
  cat >"$TMP/nginx/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $TMP/nginx/pid; error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/nginx; keepalive_requests 1000000;
  upstream catalog { server ${MTLS_CATALOG:-$CATALOG}; keepalive 32; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$NPORT http2; location / { grpc_pass $NGINX_SCHEME://catalog;
    ${MTLS_CATALOG:+grpc_ssl_certificate $ROOT/.dev/pki/gateway.crt; grpc_ssl_certificate_key $ROOT/.dev/pki/gateway.key;
    grpc_ssl_trusted_certificate $ROOT/.dev/pki/ca.crt; grpc_ssl_verify on; grpc_ssl_name localhost;
    grpc_ssl_session_reuse on;} } } }
NGX
  # with ./dev up's mutual TLS, nginx calls the same mutual-TLS yw-catalog the gateway
  # calls, with the gateway's client certificate: the same work for both proxies
  [ -n "$MTLS_CATALOG" ] && echo "(nginx peer: grpcs with the gateway's client certificate to $MTLS_CATALOG)"
  nginx -c "$TMP/nginx/nginx.conf" & NGINX_PID=$!
  sleep 0.5
  run "search gRPC via nginx grpc_pass (peer)" "${GRPC_H[@]}" -d "$TMP/search.grpc" "http://127.0.0.1:$NPORT/yiwang.catalog.v1.CatalogService/ListItems"
  run "detail gRPC via nginx grpc_pass (peer)" "${GRPC_H[@]}" -d "$TMP/get.grpc" "http://127.0.0.1:$NPORT/yiwang.catalog.v1.CatalogService/GetItem"
else
  echo "(nginx not installed: apt-get install nginx-light to add the grpc_pass peer)"
fi
if command -v go >/dev/null 2>&1 && command -v protoc-gen-grpc-gateway >/dev/null 2>&1 &&
  [ -d /usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/runtime ]; then
  GG="$TMP/gg"
  mkdir -p "$GG/src/ywgw/catalogpb" "$GG/src/ywgw/main"
  # the catalog imports the file store's FileRef: its Go package beside the catalog's
  FILESPB=Myiwang/files/v1/files.proto=ywgw/catalogpb/yiwang/files/v1
  protoc -I "$ROOT/proto" --go_out=paths=source_relative:"$GG/src/ywgw/catalogpb" \
    "$ROOT/proto/yiwang/files/v1/files.proto"
  protoc -I "$ROOT/proto" --go_out=plugins=grpc,paths=source_relative,$FILESPB:"$GG/src/ywgw/catalogpb" \
    --grpc-gateway_out=logtostderr=true,paths=source_relative,$FILESPB,grpc_api_configuration="$ROOT/bench/grpc-gateway/routes.yaml":"$GG/src/ywgw/catalogpb" \
    "$ROOT/proto/yiwang/catalog/v1/catalog.proto"
  cp "$ROOT/bench/grpc-gateway/main.go" "$GG/src/ywgw/main/"
  (cd "$GG" && GO111MODULE=off GOPATH="$GG:/usr/share/gocode" GOCACHE="$GG/cache" go build -o "$GG/ywgw" ywgw/main)
  GPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if [ -n "$MTLS_CATALOG" ]; then # the same mutual-TLS catalog as the gateway's
    "$GG/ywgw" "127.0.0.1:$GPORT" "$MTLS_CATALOG" "$ROOT/.dev/pki/ca.crt" \
      "$ROOT/.dev/pki/gateway.crt" "$ROOT/.dev/pki/gateway.key" & GG_PID=$!
  else
    "$GG/ywgw" "127.0.0.1:$GPORT" "$CATALOG" & GG_PID=$!
  fi
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$GPORT/v1/topics" >/dev/null 2>&1 && break; sleep 0.1; done
  run "search JSON via grpc-gateway (peer, HTTP/1.1)" --h1 "http://127.0.0.1:$GPORT/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=10"
  run "detail JSON via grpc-gateway (peer, HTTP/1.1)" --h1 "http://127.0.0.1:$GPORT/v1/items/$CODE"
  run "detail JSON via gateway (HTTP/1.1)" --h1 "$GW/v1/items/$CODE"
else
  echo "(grpc-gateway not installed: see the comment at the top for the Debian packages)"
fi
echo "requests=$N clients=$C streams/client=$M concurrent=$((C * M)) cores=$(nproc)"

# static files: the gateway's static phase against nghttpd on the same files, with a
# gateway of its own started by bench/static.sh (same build)
echo
YW_BENCH_GATEWAY_BIN="${YW_BENCH_GATEWAY_BIN:-$ROOT/build/gateway/yw-gateway}" \
  bash "$ROOT/bench/static.sh" -n "$N" -c "$C" -m "$M" || echo "(bench/static.sh failed)"
