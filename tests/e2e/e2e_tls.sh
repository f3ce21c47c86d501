#!/usr/bin/env bash
# e2e_tls.sh - the gateway's TLS edge with a real client (openssl s_client): TLS 1.3,
# TLS 1.2 only with ECDHE and an AEAD (the HTTP/2 blocklist of RFC 7540 appendix A
# refused: static RSA, CBC, DHE), the server's order of suites, no renegotiation, no
# TLS 1.1; and a gateway whose TLS settings are half made refuses to start.
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
TPORT="${GWS##*:}"
OUT="$E2E_TMP/s_client"

# hello [s_client args...] -> s_client's exit code; its output in $OUT
hello() {
  timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -servername localhost "$@" \
    </dev/null >"$OUT" 2>&1
}
# the server answered with a handshake_failure alert (40): it was the gateway that said no,
# not the client that had nothing to offer
refused_by_server() { ! hello "$@" && grep -q 'alert handshake failure' "$OUT"; }
negotiated() { # negotiated PROTOCOL CIPHER s_client args...
  local proto="$1" cipher="$2"; shift 2
  hello "$@" && grep -q "New, $proto, Cipher is $cipher" "$OUT"
}

# --- TLS 1.2: the h2 blocklist is refused
check "TLS 1.2 with static RSA and CBC (AES128-SHA) is refused" \
  refused_by_server -tls1_2 -cipher AES128-SHA
check "TLS 1.2 with ECDHE and CBC (ECDHE-ECDSA-AES128-SHA) is refused" \
  refused_by_server -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA
check "TLS 1.2 with ECDHE and CBC-SHA384 (ECDHE-ECDSA-AES256-SHA384) is refused" \
  refused_by_server -tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384
check "TLS 1.2 with finite-field DHE (DHE-RSA-AES128-GCM-SHA256) is refused" \
  refused_by_server -tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256

# --- TLS 1.2 with ECDHE and an AEAD, and TLS 1.3
check "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 is accepted" \
  negotiated TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
check "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 is accepted" \
  negotiated TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305 -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
check "the server's order wins: AES-128-GCM over the client's first AES-256-GCM" \
  negotiated TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 -tls1_2 \
  -cipher ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256
check "TLS 1.3 is accepted" negotiated TLSv1.3 TLS_AES_128_GCM_SHA256 -tls1_3
check "a client offering everything gets TLS 1.3" negotiated TLSv1.3 'TLS_[A-Z0-9_]*'
check "TLS 1.3 with h2 by ALPN" eval 'hello -tls1_3 -alpn h2,http/1.1 && grep -q "ALPN protocol: h2" "$OUT"'
check "TLS 1.1 is refused by the server (alert protocol_version)" \
  eval '! hello -tls1_1 -cipher "DEFAULT:@SECLEVEL=0" && grep -q "alert protocol version" "$OUT"'

# --- renegotiation: s_client's "R" asks for it on a TLS 1.2 connection
( echo R; sleep 1 ) | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -servername localhost \
  -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 >"$OUT" 2>&1 || true
check "a renegotiation request is refused" \
  eval 'grep -q RENEGOTIATING "$OUT" && grep -q "no renegotiation" "$OUT"'
S="$(curl -sS -o /dev/null -w '%{http_code}' --http2 --cacert "$E2E_TMP/tls.crt" "$GWS/healthz")"
check "the gateway serves TLS after refusing a renegotiation" test "$S" = 200

# --- start-up with TLS settings half made: refused with a clear line, exit 2
# gw_start NAME [VAR=VALUE...] -> the gateway's exit code, or 0 when it is still serving
# after its /healthz answered; its log in $E2E_TMP/NAME.log
gw_start() {
  local name="$1"; shift
  local port; port="$(free_port)"
  env YW_GATEWAY_LISTEN="127.0.0.1:$port" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
    YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_PREFIX="$E2E_DB" "$@" \
    "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/$name.log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      return "$rc"
    fi
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      kill "$pid"; wait "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  return 124
}
exits_2_saying() { # exits_2_SAYING TEXT NAME [VAR=VALUE...]
  local text="$1" name="$2" rc=0; shift 2
  gw_start "$name" "$@" || rc=$?
  [ "$rc" = 2 ] && grep -q 'gateway.tls_misconfigured' "$E2E_TMP/$name.log" &&
    grep -q "$text" "$E2E_TMP/$name.log"
}
TP="$(free_port)"
check "TLS address and certificate without a key: exit 2 naming YW_GATEWAY_TLS_KEY" \
  exits_2_saying 'YW_GATEWAY_TLS_KEY is empty' nokey YW_GATEWAY_TLS_LISTEN="127.0.0.1:$TP" \
  YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" YW_GATEWAY_TLS_KEY=
check "TLS address and key without a certificate: exit 2 naming YW_GATEWAY_TLS_CERT" \
  exits_2_saying 'YW_GATEWAY_TLS_CERT is empty' nocert YW_GATEWAY_TLS_LISTEN="127.0.0.1:$TP" \
  YW_GATEWAY_TLS_CERT= YW_GATEWAY_TLS_KEY="$E2E_TMP/tls.key"
check "a TLS address with neither: exit 2" \
  exits_2_saying 'both are empty' neither YW_GATEWAY_TLS_LISTEN="127.0.0.1:$TP" \
  YW_GATEWAY_TLS_CERT= YW_GATEWAY_TLS_KEY=
check "the default TLS address with a certificate and no key: exit 2" \
  exits_2_saying 'YW_GATEWAY_TLS_KEY is empty' autokey YW_GATEWAY_TLS_LISTEN=auto \
  YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" YW_GATEWAY_TLS_KEY=
check "an unreadable key file: exit 2" eval \
  'rc=0; gw_start badkey YW_GATEWAY_TLS_LISTEN="127.0.0.1:$TP" YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" \
     YW_GATEWAY_TLS_KEY="$E2E_TMP/no-such.key" || rc=$?; [ "$rc" = 2 ] && grep -q gateway.tls_failed "$E2E_TMP/badkey.log"'
check "the default TLS address with neither certificate nor key serves cleartext" \
  eval 'gw_start auto YW_GATEWAY_TLS_LISTEN=auto YW_GATEWAY_TLS_CERT= YW_GATEWAY_TLS_KEY= &&
        grep -q gateway.tls_off "$E2E_TMP/auto.log"'
check "an empty TLS address disables TLS even with a certificate and key" \
  eval 'gw_start off YW_GATEWAY_TLS_LISTEN= YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" \
        YW_GATEWAY_TLS_KEY="$E2E_TMP/tls.key" && ! grep -q "and TLS on" "$E2E_TMP/off.log"'

finish
