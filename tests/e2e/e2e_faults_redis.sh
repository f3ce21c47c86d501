#!/usr/bin/env bash
# e2e_faults_redis.sh - the gateway while its Redis stalls (SIGSTOP) and comes back
# (SIGCONT): public routes answer within a bounded wait under local limits, protected
# routes answer 503 at once with the standard error body, nothing piles up, and full
# service returns within seconds with the same token. Also: every key a gateway script
# touches is declared in KEYS, the keys of each call share one Redis Cluster hash slot,
# and the catalog's cache keys (which its writes delete together) share one slot.
#
# Redis is named by host name (localhost), as deployments name it (redis.internal), so
# the gateway's resolution off its event loops is on the path too.
source "$(dirname "$0")/lib.sh"

e2e_private_redis
e2e_database
export YW_REDIS_ADDR="localhost:$REDIS_PORT"
e2e_start
B="$E2E_TMP/body"
LIMIT=2 # seconds; the target is 1 s, the margin is for the sanitizer build

# timed METHOD URL [TOKEN] -> $S status, $T seconds (curl gives up after 5 s: status 000)
timed() {
  local args=(-sS -m 5 -o "$B" -w '%{http_code} %{time_total}' -X "$1" "$2")
  [ -n "${3:-}" ] && args+=(-H "authorization: Bearer $3")
  local out
  out="$(curl "${args[@]}" 2>/dev/null)" || true
  S="${out%% *}"
  T="${out#* }"
  [ -n "$S" ] || S=000
  [ -n "$T" ] || T=99
}
faster() { /usr/bin/python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }
body_is_error() { # body_is_error CODE: the standard error body with that code
  /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if d.get('code')=='$1' and d.get('message') and d.get('requestId') else 1)"
}

# --- a resident's token, obtained while Redis is well
PHONE=13812340077
curl -fsS -o /dev/null -X POST "$GW/v1/auth/sms-codes" -H 'content-type: application/json' \
  -d "{\"phone\":\"$PHONE\"}"
CODE="$(curl -fsS "$FAKES/sms/last?phone=$PHONE" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["code"])')"
TOKEN="$(curl -fsS -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
  -d "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
SEARCH="$GW/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=3"
timed GET "$GW/v1/me" "$TOKEN"
check "before the fault the protected route answers 200 ($S)" test "$S" = 200
timed GET "$SEARCH"
check "before the fault a search answers 200 ($S)" test "$S" = 200

# --- Redis Cluster rules, checked on what the processes really send (MONITOR)
# a cluster-mode Redis of our own, only to ask CLUSTER KEYSLOT (a free port can be taken
# by a test running alongside before we bind it, hence the retries)
ks_start() {
  local pid
  for attempt in 1 2 3; do
    KS_PORT="$(free_port)"
    mkdir -p "$E2E_TMP/ks$attempt"
    redis-server --port "$KS_PORT" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$E2E_TMP/ks$attempt/nodes.conf" --dir "$E2E_TMP/ks$attempt" \
      --save "" --appendonly no >"$E2E_TMP/ks$attempt/log" 2>&1 &
    pid=$!
    E2E_PIDS+=("$pid")
    for _ in $(seq 100); do
      # ours, not another test's server that won the port
      redis-cli -p "$KS_PORT" INFO server 2>/dev/null | grep -q "^process_id:$pid" && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  echo "no cluster-mode Redis for CLUSTER KEYSLOT"; cat "$E2E_TMP"/ks*/log
  return 1
}
ks_start
slot() { redis-cli -p "$KS_PORT" CLUSTER KEYSLOT "$1"; }
redis-cli -p "$REDIS_PORT" monitor >"$E2E_TMP/monitor.log" 2>&1 &
MON_PID=$!
# MONITOR answers OK once it is attached: only then is every command seen
for _ in $(seq 100); do grep -q '^OK' "$E2E_TMP/monitor.log" 2>/dev/null && break; sleep 0.05; done
# tokens are leased ahead (gw_lease): the scripts come at a client's 1st, 2nd, 4th,
# 8th ... request, so eight requests make several of them
for _ in 1 2; do
  timed GET "$GW/v1/items?pageSize=2"
  timed GET "$GW/v1/me" "$TOKEN"
  timed GET "$GW/v1/topics"
  code_of=$(curl -sS "$SEARCH" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["implCode"])')
  timed GET "$GW/v1/items/$code_of"
done
# the last command's echo in the monitor: everything before it was logged
redis-cli -p "$REDIS_PORT" ECHO monitor-end >/dev/null
for _ in $(seq 100); do grep -q 'monitor-end' "$E2E_TMP/monitor.log" 2>/dev/null && break; sleep 0.05; done
kill "$MON_PID" 2>/dev/null || true
wait "$MON_PID" 2>/dev/null || true
# Each EVAL/EVALSHA with the commands its script ran ([0 lua] lines follow it), and
# every multi-key DEL: the keys must all be declared and map to one slot.
/usr/bin/python3 - "$E2E_TMP/monitor.log" >"$E2E_TMP/calls.txt" <<'EOF'
import re, sys
tok = re.compile(r'"((?:[^"\\]|\\.)*)"')
calls, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$', line.strip())
    if not m:
        continue
    who, args = m.group(1), tok.findall(m.group(2))
    if not args:
        continue
    cmd = args[0].upper()
    if who == "lua":
        if cur is not None and len(args) > 1 and cmd not in ("TIME",):
            cur["used"].append(args[1])
        continue
    if cur is not None:
        calls.append(cur)
        cur = None
    if cmd in ("EVAL", "EVALSHA"):
        n = int(args[2])
        cur = {"what": cmd, "keys": args[3:3 + n], "used": []}
    elif cmd in ("DEL", "UNLINK", "MGET", "EXISTS") and len(args) > 2:
        calls.append({"what": cmd, "keys": args[1:], "used": []})
if cur is not None:
    calls.append(cur)
for c in calls:
    undeclared = [k for k in c["used"] if k not in c["keys"]]
    print("\t".join([c["what"]] + c["keys"] + (["UNDECLARED:" + ",".join(undeclared)] if undeclared else [])))
EOF
N_CALLS="$(wc -l <"$E2E_TMP/calls.txt")"
check "the monitor saw the gateway's scripts ($N_CALLS calls)" test "$N_CALLS" -ge 3
check "every key a script touches is passed in KEYS" \
  bash -c "! grep -q UNDECLARED: '$E2E_TMP/calls.txt' || { grep UNDECLARED: '$E2E_TMP/calls.txt'; false; }"
CROSS=""
while IFS= read -r line; do
  IFS=$'\t' read -r -a ks <<<"$line"
  ks=("${ks[@]:1}")
  slots=""
  for k in "${ks[@]}"; do
    case "$k" in UNDECLARED:*|"") continue ;; esac
    slots="$slots $(slot "$k")"
  done
  [ "$(tr ' ' '\n' <<<"$slots" | sed '/^$/d' | sort -u | wc -l)" -le 1 ] || CROSS="$CROSS [$line:$slots]"
done <"$E2E_TMP/calls.txt"
check "the keys of each script or multi-key command share one hash slot$CROSS" test -z "$CROSS"
CACHE_SLOTS=""
for k in $(redis-cli -p "$REDIS_PORT" --scan --pattern "*$E2E_DB:catalog*"); do
  CACHE_SLOTS="$CACHE_SLOTS $(slot "$k")"
done
N_CACHE="$(tr ' ' '\n' <<<"$CACHE_SLOTS" | sed '/^$/d' | wc -l)"
check "the catalog cached a list and an item ($N_CACHE keys)" test "$N_CACHE" -ge 2
check "the catalog's cache keys share one slot, so its clear is one command ($CACHE_SLOTS)" \
  test "$(tr ' ' '\n' <<<"$CACHE_SLOTS" | sed '/^$/d' | sort -u | wc -l)" = 1

# --- Redis forgot the script (restart, SCRIPT FLUSH): it is sent again in full
redis-cli -p "$REDIS_PORT" SCRIPT FLUSH >/dev/null
timed GET "$GW/v1/me" "$TOKEN"
check "after SCRIPT FLUSH the protected route still answers 200 ($S)" test "$S" = 200
timed GET "$GW/v1/topics"
check "after SCRIPT FLUSH a public route still answers 200 ($S)" test "$S" = 200

# --- networks, not text: bad entries stop the start; an IPv6 client is its /64
BAD_OUT="$(YW_GATEWAY_LISTEN="127.0.0.1:$(free_port)" YW_GATEWAY_TLS_LISTEN="" \
  YW_GATEWAY_METRICS_FROM="127.0.0.1,10.1.2." timeout 10 "$YW_BUILD_DIR/gateway/yw-gateway" 2>&1)" && BAD_RC=0 || BAD_RC=$?
check "a list entry that is no network stops the start (exit $BAD_RC)" \
  bash -c "[ $BAD_RC = 2 ] && grep -q 'YW_GATEWAY_METRICS_FROM' <<<'$BAD_OUT'"
V6_PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$V6_PORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
  YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_PREFIX="$E2E_DB-v6" YW_GATEWAY_RATE_IP=1 \
  YW_GATEWAY_BURST_IP=3 YW_GATEWAY_TRUSTED_PROXIES="127.0.0.0/8" YW_GATEWAY_METRICS_FROM="10.0.0.0/8" \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-v6.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$V6_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
from() { curl -sS -o /dev/null -w '%{http_code}' -H "x-forwarded-for: $1" "http://127.0.0.1:$V6_PORT/v1/topics"; }
V6=""
for i in 1 2 3 4 5 6; do V6="$V6 $(from "2001:db8:1:2::$i")"; done
check "addresses rotating inside one /64 share its budget ($V6)" grep -q 429 <<<"$V6"
check "another /64 has its own budget" test "$(from 2001:db8:1:3::1)" = 200
V4=""
for i in 1 2 3 4 5 6; do V4="$V4 $(from "198.51.100.$i")"; done
check "IPv4 clients are counted by full address ($V4)" bash -c "! grep -q 429 <<<'$V4'"
S="$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$V6_PORT/metrics")"
check "/metrics outside the listed network is refused ($S)" test "$S" = 403

# --- leased tokens: a client that keeps sending takes several tokens per round trip,
# and all of them together never exceed its bucket (burst 64, 1 a second: a worker
# leases at most 64/8 = 8 at once, so two workers hold back at most 16)
LEASE_PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$LEASE_PORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
  YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_PREFIX="$E2E_DB-lease" YW_GATEWAY_RATE_IP=1 \
  YW_GATEWAY_BURST_IP=64 YW_GATEWAY_THREADS=2 YW_GATEWAY_TRUSTED_PROXIES="127.0.0.0/8" \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-lease.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$LEASE_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
takes() { # EVAL and EVALSHA calls Redis has run
  redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '$1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" { n += $3 } END { print n + 0 }'
}
T0="$(date +%s%N)"
E0="$(takes)"
# burst N: N requests of the client in one curl, on one kept-alive connection (one worker,
# back to back, well inside a lease's second) -> their statuses, space-separated
burst() {
  local args=() i
  for i in $(seq "$1"); do args+=(-o /dev/null "http://127.0.0.1:$LEASE_PORT/v1/topics"); done
  curl -sS -w '%{http_code} ' -H 'x-forwarded-for: 203.0.113.7' "${args[@]}"
}
LEASE=" $(burst 40)"
E1="$(takes)"
check "40 requests within the burst all pass ($LEASE)" bash -c "! grep -qv '^ *200\( 200\)* *$' <<<'$LEASE'"
check "they took their tokens in fewer round trips than requests ($((E1 - E0)) scripts for 40)" \
  test "$((E1 - E0))" -le 20
LEASE="$LEASE $(burst 60)"
ELAPSED_MS="$((($(date +%s%N) - T0) / 1000000))"
PASSED="$(tr ' ' '\n' <<<"$LEASE" | grep -c '^200$')"
CEIL="$((64 + ELAPSED_MS / 1000 + 1))"
check "no more pass than the bucket holds plus its refill ($PASSED of 100, at most $CEIL in ${ELAPSED_MS} ms)" \
  test "$PASSED" -le "$CEIL"
check "leases held back at most two workers' worth ($PASSED of 100, at least 48)" test "$PASSED" -ge 48
# the worker this connection lands on may still hold a few leased tokens (at most 8):
# 20 more requests go past them, and the heads of all are kept
H="$E2E_TMP/lease.head"
ARGS=()
for i in $(seq 20); do ARGS+=(-o /dev/null "http://127.0.0.1:$LEASE_PORT/v1/topics"); done
curl -sS -D "$H" -H 'x-forwarded-for: 203.0.113.7' "${ARGS[@]}"
check "past the bucket: 429 with retry-after" bash -c "grep -q '^HTTP/1.1 429' '$H' && grep -qi '^retry-after: [0-9]' '$H'"

# --- Redis stalls: the process is stopped, its socket still accepts
kill -STOP "$REDIS_PID"
TIMES=""
ALL=1
for i in 1 2 3; do
  timed GET "$SEARCH"
  TIMES="$TIMES $T"
  { [ "$S" = 200 ] && faster "$T" "$LIMIT"; } || ALL=0
done
check "with Redis stalled public searches answer 200 in time (s:$TIMES)" test "$ALL" = 1
timed GET "$GW/v1/me" "$TOKEN"
T503="$T"
check "with Redis stalled a protected route answers 503 at once (${T}s)" \
  bash -c "[ '$S' = 503 ] && /usr/bin/python3 -c 'import sys; sys.exit(0 if $T < $LIMIT else 1)'"
check "the 503 has the standard error body" body_is_error UNAVAILABLE
timed GET "$SEARCH" "$TOKEN"
check "with Redis stalled a public search with a token answers 200, as anonymous (${T}s)" \
  bash -c "[ '$S' = 200 ] && /usr/bin/python3 -c 'import sys; sys.exit(0 if $T < $LIMIT else 1)'"
timed GET "$GW/healthz"
check "with Redis stalled /healthz answers 200" test "$S" = 200
# many at once: none waits for another, none is left unanswered
PAR="$E2E_TMP/par"
mkdir -p "$PAR"
START=$(date +%s.%N)
CURLS=()
for i in $(seq 20); do
  if [ $((i % 2)) = 0 ]; then
    curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}\n' "$GW/v1/topics" >"$PAR/$i" 2>/dev/null &
  else
    curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}\n' -H "authorization: Bearer $TOKEN" \
      "$GW/v1/me" >"$PAR/$i" 2>/dev/null &
  fi
  CURLS+=("$!")
done
for p in "${CURLS[@]}"; do wait "$p" 2>/dev/null || true; done
ELAPSED=$(/usr/bin/python3 -c "import time; print(round(time.time() - $START, 3))")
SEQ_OK=1
for i in $(seq 20); do
  read -r st tt <"$PAR/$i" || st=000
  if [ $((i % 2)) = 0 ]; then [ "$st" = 200 ] || SEQ_OK=0; else [ "$st" = 503 ] || SEQ_OK=0; fi
done
check "20 requests at once all answer (public 200, protected 503) in ${ELAPSED}s" \
  bash -c "[ $SEQ_OK = 1 ] && /usr/bin/python3 -c 'import sys; sys.exit(0 if $ELAPSED < $LIMIT + 1 else 1)'"
SEQ=""
for i in $(seq 10); do timed GET "$GW/v1/me" "$TOKEN"; SEQ="$SEQ $S/$T"; done
check "10 protected requests in a row each answer 503 in time ($SEQ)" \
  /usr/bin/python3 -c "import sys; sys.exit(0 if all(p.split('/')[0]=='503' and float(p.split('/')[1]) < $LIMIT for p in '$SEQ'.split()) else 1)"

# --- Redis is back: the same token works again within a few seconds
kill -CONT "$REDIS_PID"
BACK_START=$(date +%s.%N)
BACK=""
for _ in $(seq 50); do
  timed GET "$GW/v1/me" "$TOKEN"
  if [ "$S" = 200 ]; then BACK=$(/usr/bin/python3 -c "import time; print(round(time.time() - $BACK_START, 3))"); break; fi
  sleep 0.2
done
check "after Redis returns the protected route answers 200 again (after ${BACK:-never}s)" \
  bash -c "[ -n '$BACK' ] && /usr/bin/python3 -c 'import sys; sys.exit(0 if $BACK < 8 else 1)'"
timed GET "$SEARCH"
check "after Redis returns a search answers 200 ($S)" test "$S" = 200
check "the gateway is still running" kill -0 "$GATEWAY_PID"
echo "figures: stalled searches (s):$TIMES; protected 503 (s): $T503; 20 at once: ${ELAPSED}s; back after ${BACK:-never}s"

finish
