#!/usr/bin/env bash
# bench/memory.sh - the gateway's memory (VmRSS) at rest, with 10,000 idle client
# connections, and with 10,000 streams open at once (100 HTTP/2 connections x 100
# streams, held on the gateway by a catalog stopped with SIGSTOP, then released), against
# `./dev up`. Prints each figure beside the resting one, so the cost per connection and
# per stream can be read off.
#
#   bench/memory.sh [IDLE_CONNECTIONS] [STREAM_CONNECTIONS] [STREAMS_EACH]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IDLE="${1:-10000}" SC="${2:-100}" SM="${3:-100}"
GW="${YW_BENCH_GATEWAY:-http://127.0.0.1:8080}"
GPID="$(cat "$ROOT/.dev/run/gateway.pid")"
CPID="$(cat "$ROOT/.dev/run/catalog.pid")"
rss() { awk '/VmRSS/ {print $2}' "/proc/$GPID/status"; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

curl -fsS "$GW/readyz" >/dev/null || { echo "start the system first: ./dev up" >&2; exit 1; }
base="$(rss)"
printf '%-46s %10s kB\n' "gateway at rest" "$base"

# idle connections: opened, held without a byte sent, measured, closed
HOSTPORT="${GW#http://}"
/usr/bin/python3 - "$HOSTPORT" "$IDLE" "$GPID" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n, pid = int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect((host, int(port)))
    socks.append(s)
time.sleep(1.0)
rss = [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0]
print(f"{'with %d idle connections' % n:<46} {rss:>10} kB")
for s in socks:
    s.close()
PY
sleep 1

# open streams: the catalog stopped, so every search waits on the gateway
kill -STOP "$CPID"
h2load -n $((SC * SM)) -c "$SC" -m "$SM" -t 1 "$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=5" \
  >/tmp/yw-memory-h2load.txt 2>&1 &
LOAD=$!
sleep 3
printf '%-46s %10s kB\n' "with $((SC * SM)) streams open ($SC x $SM)" "$(rss)"
kill -CONT "$CPID"
wait "$LOAD" || true
grep -E "^requests:|^status codes:" /tmp/yw-memory-h2load.txt
sleep 1
printf '%-46s %10s kB\n' "gateway after both" "$(rss)"
sleep 31 # the gateway gives freed memory back to the system every 30 s
printf '%-46s %10s kB\n' "gateway 30 s later" "$(rss)"
