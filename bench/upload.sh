#!/usr/bin/env bash
# bench/upload.sh - a 10 MiB upload through the gateway's upload phase against the same
# bytes written to the store directly, and its download through the download phase
# against the same bytes read from the store directly, in one run on the same machine.
#
# Through the gateway: curl PUTs a raw 10 MiB body to yw-gateway-uploads (the gateway's
# own sources with the test routes of tests/e2e/gw_upload_routes.c), whose upload phase
# hashes it and sends it to yw-files in 256 KiB chunks, commits it, and calls the test
# owning service (tests/e2e/uploads_server) with the FileRef; the body is streamed
# (YW_GATEWAY_MAX_BODY is 1 MiB, so a body collected whole would be refused).
# Directly: files_put (tests/e2e/files_put.c) sends the same bytes to the same yw-files the same way
# (BeginUpload, 256 KiB PutChunks, Commit) over the runtime's gRPC client. Each upload is
# a distinct file (no deduplication), one at a time; both store into the PostgreSQL of
# `./dev up` (YW_BENCH_PG_DSN), in a schema the bench drops again.
# Downloads: curl GETs each file from the gateway over HTTP/1.1 (the owner's
# authorisation, Stat, then 1 MiB ReadRanges streamed to the client as it reads: the file
# is 10 x YW_GATEWAY_MAX_BODY), against files_put --read (the same Stat and ReadRanges
# over the runtime's gRPC client); both check the SHA-256 of what they got.
#
#   bench/upload.sh [-n UPLOADS] [-s MIB]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=5 MIB=10
while getopts n:s: o; do
  case $o in n) N=$OPTARG ;; s) MIB=$OPTARG ;; *) exit 2 ;; esac
done
B="${YW_BENCH_BUILD:-$ROOT/build}"
for bin in services/files/yw-files tests/yw-gateway-uploads tests/uploads_server tests/files_put; do
  [ -x "$B/$bin" ] || { echo "build first (./dev test builds $B): no $B/$bin" >&2; exit 1; }
done
DSN="${YW_BENCH_PG_DSN:-host=127.0.0.1 port=55432 dbname=yiwang user=postgres}"
TMP="$(mktemp -d)"
PIDS=()
DB="bench_upload_$$"
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; psql "$DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
psql "$DSN" -qc "CREATE DATABASE $DB" >/dev/null
export YW_PG_DSN="$(echo "$DSN" | sed "s/dbname=[^ ]*/dbname=$DB/")"
export YW_CALLER_KEY="$(openssl rand -hex 32)" YW_LOG_LEVEL=warn YW_TLS_CA= YW_TLS_CERT= YW_TLS_KEY=
"$B/services/files/yw-files" --migrate-only

FILES="127.0.0.1:$(free_port)"
YW_FILES_LISTEN="$FILES" "$B/services/files/yw-files" >"$TMP/files.log" 2>&1 &
PIDS+=("$!")
TEST="127.0.0.1:$(free_port)"
"$B/tests/uploads_server" "$TEST" >"$TMP/test.log" 2>&1 &
PIDS+=("$!")
GPORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$GPORT" YW_GATEWAY_TLS_LISTEN= YW_GATEWAY_THREADS=2 \
  YW_UPSTREAM_TEST="$TEST" YW_UPSTREAM_FILES="$FILES" YW_UPSTREAM_CATALOG=127.0.0.1:1 \
  YW_UPSTREAM_IDENTITY=127.0.0.1:1 YW_REDIS_ADDR=127.0.0.1:1 \
  YW_GATEWAY_MAX_BODY=1048576 YW_GATEWAY_TIMEOUT_MS=60000 \
  "$B/tests/yw-gateway-uploads" >"$TMP/gateway.log" 2>&1 &
PIDS+=("$!")
GW="http://127.0.0.1:$GPORT"
for _ in $(seq 100); do
  curl -fsS "$GW/readyz" 2>/dev/null | grep -q '"files":"ok"' && curl -fsS "$GW/readyz" | grep -q '"test":"ok"' && break
  sleep 0.1
done

# distinct files of MIB MiB that sniff as PNG
for i in $(seq "$N"); do
  for k in gw direct; do
    { printf '\x89PNG\r\n\x1a\n'; head -c $((MIB * 1048576 - 8)) /dev/urandom; } >"$TMP/$k.$i.png"
  done
done

gw_times=() direct_times=()
for i in $(seq "$N"); do
  # curl's defaults, Expect: 100-continue included (the gateway answers 100 at once)
  out="$(curl -sS -o "$TMP/answer" -w '%{http_code} %{time_total}' -X PUT -H 'content-type: image/png' \
    --data-binary "@$TMP/gw.$i.png" "$GW/v1/test/bench-upload")"
  [ "${out%% *}" = 200 ] || { echo "gateway upload $i: $out $(head -c 300 "$TMP/answer")"; tail "$TMP/gateway.log"; exit 1; }
  gw_times+=("${out#* }")
  t="$("$B/tests/files_put" "$FILES" "$TMP/direct.$i.png" | cut -d' ' -f1)"
  direct_times+=("$t")
done

gw_dl=() direct_dl=()
for i in $(seq "$N"); do
  sha="$(sha256sum "$TMP/gw.$i.png" | cut -d' ' -f1)"
  out="$(curl -sS -o "$TMP/got" -w '%{http_code} %{time_total}' "$GW/v1/test/bench-files/$sha")"
  [ "${out%% *}" = 200 ] && [ "$(sha256sum "$TMP/got" | cut -d' ' -f1)" = "$sha" ] ||
    { echo "gateway download $i: $out"; tail "$TMP/gateway.log"; exit 1; }
  gw_dl+=("${out#* }")
  sha="$(sha256sum "$TMP/direct.$i.png" | cut -d' ' -f1)"
  read -r t _ got < <("$B/tests/files_put" --read "$FILES" "$sha")
  [ "$got" = "$sha" ] || { echo "direct read $i: $got"; exit 1; }
  direct_dl+=("$t")
done

/usr/bin/python3 - "$MIB" "${gw_times[*]}" "${direct_times[*]}" "${gw_dl[*]}" "${direct_dl[*]}" <<'PY'
import statistics, sys
mib = float(sys.argv[1])
gw = [float(x) for x in sys.argv[2].split()]
d = [float(x) for x in sys.argv[3].split()]
gdl = [float(x) for x in sys.argv[4].split()]
ddl = [float(x) for x in sys.argv[5].split()]
def row(name, ts):
    m = statistics.median(ts)
    print("%-46s %8.3f %8.3f %9.1f" % (name, m, max(ts), mib / m))
    return m
print("%-46s %8s %8s %9s" % ("scenario (%d uploads of %g MiB)" % (len(gw), mib), "p50_s", "max_s", "MiB/s"))
g = row("through the gateway (curl PUT, raw body)", gw)
b = row("straight into yw-files (files_put, baseline)", d)
print("gateway / baseline time: %.2f" % (g / b))
print("%-46s %8s %8s %9s" % ("scenario (%d downloads of %g MiB)" % (len(gdl), mib), "p50_s", "max_s", "MiB/s"))
g = row("through the gateway (curl GET, streamed)", gdl)
b = row("straight from yw-files (files_put --read)", ddl)
print("gateway / baseline time: %.2f" % (g / b))
PY
