#!/usr/bin/env bash
# bench/paysim.sh - what the channel simulator (yw-paysim) carries: closed-loop flows of
# prepay (signed) -> the payer's /sim/pay -> the signed notification to a receiver that
# acknowledges it, per channel (sim: RSA-SHA256, sim-sm2: SM2/SM3), by
# build/payment/yw-paysim-load. Prints flows per second of wall clock and per CPU-second
# of the simulator, and, as the baseline measured in the same run, openssl's own
# signatures per second for the same key types: each flow signs one notification, so
# that is the ceiling of flows per CPU-second.
#
#   bench/paysim.sh [-c FLOWS] [-s SECONDS]      (no ./dev up needed: it starts its own)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${YW_BENCH_BUILD:-$ROOT/build}"
C=64 S=10
while getopts c:s: o; do case $o in c) C=$OPTARG ;; s) S=$OPTARG ;; *) exit 2 ;; esac; done
[ -x "$B/payment/yw-paysim-load" ] || { echo "build first (cmake --build build)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; rm -rf "$TMP"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P="$(port)"
K1="$(openssl rand -hex 32)" K2="$(openssl rand -hex 32)"
YW_PAYSIM_LISTEN="127.0.0.1:$P" YW_PAYSIM_KEYS_DIR="$TMP/keys" YW_PAYSIM_LOG_LEVEL=warn \
  YW_PAYSIM_MERCHANTS="sim=1900000001:$K1,sim-sm2=1900000002:$K2" \
  "$B/payment/yw-paysim" >"$TMP/paysim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$P/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/payment/yw-paysim-load" "127.0.0.1:$P" sim 1900000001 "$K1" "$(port)" "$C" "$S" "$SIM_PID"
"$B/payment/yw-paysim-load" "127.0.0.1:$P" sim-sm2 1900000002 "$K2" "$(port)" "$C" "$S" "$SIM_PID"
rsa="$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')"
sm2="$(openssl speed -seconds 3 sm2 2>/dev/null | awk '/SM2/ && /CurveSM2/ {print $(NF-1)}')"
echo "baseline (openssl speed, one core): rsa2048 sign/s=$rsa sm2 sign/s=$sm2"
