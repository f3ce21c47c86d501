#!/usr/bin/env bash
# bench/payment.sh - payments at sustained load through the gateway (issue 10): department
# staff create orders (POST /v1/payments/orders with an Idempotency-Key), the resident
# pays each (POST /v1/payments/orders/{id}:pay, channel sim), the payer pays at the
# simulator (POST {sim}/sim/sim/pay), and the simulator's signed notification reaches
# yw-payment through the gateway's POST /v1/payments/notify/sim and books the order PAID.
# build/tests/yw-bench-payment drives C flows closed-loop for S seconds; then the script
# waits (at most 120 s) until every order paid at the simulator is PAID and prints
# payments/s (orders PAID / wall seconds from the first create to the last PAID),
# p50/p99 of each step (notify = from the wallet's answer to the PAID transition), the
# errors, the CPU seconds of each process over the run (/proc/<pid>/stat) and its waits
# (voluntary context switches of its threads, /proc/<pid>/task/*/status), and the
# ledger's invariants in SQL as "ledger discrepancies: N" (non-zero exit unless N = 0);
# then, unless -R, bench/recon.sh (1,000,000-row reconciliation) on the same PostgreSQL.
# Baselines of the same run: the same gateway's static /healthz (h2load), and the
# simulator alone (build/payment/yw-paysim-load: prepay + pay + notification).
#
# It never touches `./dev up`: it starts its own system on free ports with
# tests/e2e/lib.sh (a private PostgreSQL 15 and Redis, the services on mutual TLS, the
# gateway with 2 worker threads), and removes it at the end.
#
#   bench/payment.sh [-c FLOWS] [-s SECONDS] [-R]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FLOWS=64 SECS=20 RECON=1 # (not C and S: identity_helpers.sh's req sets S)
while getopts c:s:R o; do
  case $o in c) FLOWS=$OPTARG ;; s) SECS=$OPTARG ;; R) RECON=0 ;; *) exit 2 ;; esac
done
export YW_SOURCE_DIR="$ROOT" YW_BUILD_DIR="${YW_BENCH_BUILD:-$ROOT/build}"
for b in tests/yw-bench-payment tests/yw-bench-recon payment/yw-payment payment/yw-paysim payment/yw-paysim-load gateway/yw-gateway; do
  [ -x "$YW_BUILD_DIR/$b" ] || { echo "build first (./dev test --fast builds $YW_BUILD_DIR): no $b" >&2; exit 1; }
done
# lib.sh wants these set; e2e_private_pg / e2e_private_redis replace them with its own
export YW_TEST_PG_PORT=0 YW_TEST_REDIS_ADDR=127.0.0.1:0
source "$ROOT/tests/e2e/lib.sh"
e2e_private_pg
# pg_stat_statements, to show where PostgreSQL's time goes
E2E_PRIVATE_PG_OPTS+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
e2e_pg_stop && e2e_pg_start
e2e_private_redis
# the keys ./dev test gives every process (dev's keys_env), fresh for this run
for k in YW_DATA_KEY YW_LOOKUP_KEY YW_CALLER_KEY YW_APPLICATIONS_DATA_KEY YW_PAYMENT_DATA_KEY; do
  export "$k=$(openssl rand -hex 32)"
done
e2e_database >/dev/null
PAYSIM_RETRY_MS="1000,2000,4000,8000" e2e_start_paysim
e2e_start
source "$ROOT/tests/e2e/identity_helpers.sh"
PSQL_DB=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA -v ON_ERROR_STOP=1)

# yw-payment again, now with the gateway's notification URL (as tests/e2e/e2e_payment.sh)
kill "$PAYMENT_PID"; wait "$PAYMENT_PID" 2>/dev/null || true
YW_PAYMENT_LISTEN="$PAYMENT_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
  YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_payment}" \
  YW_PAYMENT_CHANNELS="$E2E_PAYMENT_CHANNELS" YW_PAYMENT_CHANNEL_KEYS="$E2E_PAYMENT_CHANNEL_KEYS" \
  YW_PAYMENT_NOTIFY_BASE="$GW/v1/payments/notify" \
  YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/payment.crt" YW_TLS_KEY="$E2E_PKI/payment.key" \
  YW_TLS_CLIENT_NAMES=gateway YW_LOG_LEVEL=warn \
  "$YW_BUILD_DIR/payment/yw-payment" >>"$E2E_TMP/payment.log" 2>&1 &
PAYMENT_PID=$!
E2E_PIDS+=("$PAYMENT_PID")
for _ in $(seq 100); do # up: an unknown channel is the service's 404, not the gateway's 503
  [ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/payments/notify/none" -d x)" = 404 ] && break
  sleep 0.1
done

e2e_staff bench.clerk 320700-GA dept_staff
STAFF="$(e2e_staff_token bench.clerk)"
RES="$(verified_resident 13900000031 张三 320706199001011230)"
req GET /v1/me "$RES"
SUBJECT="$(field "d['subject']")"

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
rm -f "$E2E_TMP/h2log"
h2load -n 20000 -c 10 -m 5 -t 1 --log-file="$E2E_TMP/h2log" "$GW/healthz" >"$E2E_TMP/h2out" 2>&1 || true
/usr/bin/python3 "$ROOT/bench/h2load_summary.py" "baseline: gateway static /healthz (h2c)" \
  "$E2E_TMP/h2out" "$E2E_TMP/h2log"
echo "baseline: the simulator alone (prepay + pay + notification acknowledged, $FLOWS flows, 5 s):"
"$YW_BUILD_DIR/payment/yw-paysim-load" "${PAYSIM#http://}" sim "$PAYSIM_MCHID_SIM" "$PAYSIM_KEY_SIM" \
  "$(free_port)" "$FLOWS" 5 "$PAYSIM_PID" | sed 's/^/  /'

# CPU ticks of each process (and of every PostgreSQL backend) before and after the run,
# and its waits: the voluntary context switches of all its threads (a thread blocks once
# for each answer it waits for, so fewer round trips show here first, whatever the load)
PG_MASTER="$(head -1 "$E2E_PRIVATE_PG/data/postmaster.pid")"
cpu_snapshot() { # cpu_snapshot FILE
  local p
  {
    for p in gateway:$GATEWAY_PID payment:$PAYMENT_PID paysim:$PAYSIM_PID redis:$REDIS_PID \
      postgres:$PG_MASTER $(pgrep -P "$PG_MASTER" | sed 's/^/postgres:/'); do
      [ -r "/proc/${p#*:}/stat" ] || continue
      echo "${p%%:*} ${p#*:} $(sed 's/.*) //' "/proc/${p#*:}/stat" | awk '{print $12 + $13}')" \
        "$(cat /proc/"${p#*:}"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}')"
    done
  } >"$1"
}
"${PSQL_DB[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
cpu_snapshot "$E2E_TMP/cpu0"
TIMEFORMAT='%U %S'
{ time "$YW_BUILD_DIR/tests/yw-bench-payment" "${GW#http://}" "${PAYSIM#http://}" "$STAFF" "$RES" \
  "$SUBJECT" "$FLOWS" "$SECS" "$E2E_TMP/paid" >"$E2E_TMP/load" 2>"$E2E_TMP/errors"; } 2>"$E2E_TMP/drivercpu"
cpu_snapshot "$E2E_TMP/cpu1"
AT_CHANNEL="$(wc -l <"$E2E_TMP/paid")"
# bounded wait: every order paid at the simulator PAID
for _ in $(seq 1200); do
  [ "$("${PSQL_DB[@]}" -c "SELECT count(*) FROM payment.orders WHERE status = 'PAID'")" -ge "$AT_CHANNEL" ] && break
  sleep 0.1
done
cpu_snapshot "$E2E_TMP/cpu2"

"${PSQL_DB[@]}" -c "CREATE TABLE public.bench_paid (order_id uuid PRIMARY KEY, wallet_at double precision)"
"${PSQL_DB[@]}" -c "\\copy public.bench_paid FROM '$E2E_TMP/paid' WITH (DELIMITER ' ')"
FIRST="$(sed -n 's/.*first_create_epoch=\([0-9.]*\).*/\1/p' "$E2E_TMP/load")"
read -r PAID WALL NP50 NP99 NOTPAID < <("${PSQL_DB[@]}" -F ' ' -c "
  WITH p AS (SELECT b.order_id, extract(epoch FROM e.at) AS paid_at, b.wallet_at
               FROM public.bench_paid b
               JOIN payment.order_events e ON e.order_id = b.order_id AND e.to_status = 'PAID')
  SELECT (SELECT count(*) FROM payment.orders WHERE status = 'PAID'),
         round((max(paid_at) - $FIRST)::numeric, 2),
         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY (paid_at - wallet_at) * 1000))::numeric, 2),
         round((percentile_cont(0.99) WITHIN GROUP (ORDER BY (paid_at - wallet_at) * 1000))::numeric, 2),
         (SELECT count(*) FROM public.bench_paid b JOIN payment.orders o ON o.id = b.order_id
           WHERE o.status <> 'PAID')
    FROM p")
echo "payments ($FLOWS flows closed-loop for $SECS s): create -> pay -> wallet, then the notification:"
sed 's/^/  /' "$E2E_TMP/load"
sed 's/^/  first errors: /' "$E2E_TMP/errors"
echo "  step=notify count=$PAID p50_ms=$NP50 p99_ms=$NP99 (wallet answered -> order PAID)"
echo "  orders paid at the channel: $AT_CHANNEL, PAID: $PAID, not PAID after the wait: $NOTPAID"
/usr/bin/python3 -c "import sys; p, w = int(sys.argv[1]), float(sys.argv[2]); print(f'payments/s = {p / w:.0f} ({p} PAID in {w:.2f} s from the first create to the last PAID; target 1000)')" "$PAID" "$WALL"

echo "CPU seconds over the run (driver, then to the last PAID), and waits (voluntary context switches):"
/usr/bin/python3 - "$E2E_TMP/cpu0" "$E2E_TMP/cpu1" "$E2E_TMP/cpu2" "$(cat "$E2E_TMP/drivercpu")" "$PAID" <<'PY'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
def load(f):
    d = {}
    for l in open(f):
        name, pid, t, w = l.split()
        d[pid] = (name, int(t), int(w))
    return d
a, b, c = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
tot, waits = {}, {}
for pid, (name, t, w) in c.items():
    before = a.get(pid, (name, 0, 0))
    tot[name] = tot.get(name, 0) + t - before[1]
    waits[name] = waits.get(name, 0) + w - before[2]
u, s = (float(x) for x in sys.argv[4].split())
tot["driver"] = (u + s) * tck
paid = int(sys.argv[5]) or 1
for name in ("gateway", "payment", "postgres", "redis", "paysim", "driver"):
    sec = tot.get(name, 0) / tck
    wt = f", {waits[name] / paid:.1f} waits" if name in waits else ""
    print(f"  {name:9s} {sec:7.2f} s  ({sec / paid * 1e3:.2f} ms{wt} per payment)")
print(f"  total     {sum(tot.values()) / tck:7.2f} s")
PY

echo "PostgreSQL's statements by total time over the run (pg_stat_statements, top 12):"
"${PSQL_DB[@]}" -F ' | ' -c "
  SELECT round(total_exec_time::numeric / 1000, 2) || ' s', calls,
         round((total_exec_time / greatest(calls, 1))::numeric, 3) || ' ms',
         left(regexp_replace(query, '\s+', ' ', 'g'), 110)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" | sed 's/^/  /'
"${PSQL_DB[@]}" -c "SELECT '  connections to the database: ' || count(*) FROM pg_stat_activity WHERE datname = current_database()"

# tools/ledger_check's invariants, in SQL, on this run's database
DISC="$("${PSQL_DB[@]}" -c "
  SELECT (SELECT count(*) FROM (SELECT journal_id FROM payment.postings GROUP BY 1
                                HAVING sum(amount_fen) <> 0) j)
       + (SELECT CASE WHEN coalesce(sum(amount_fen), 0) <> 0 THEN 1 ELSE 0 END FROM payment.postings)
       + (SELECT count(*) FROM payment.orders o
           WHERE o.status = 'PAID'
             AND (SELECT count(*) FROM payment.journal j WHERE j.kind = 'pay' AND j.order_id = o.id) <> 1)
       + (SELECT count(*) FROM payment.orders WHERE refunded_fen > amount_fen)
       + (SELECT CASE WHEN (SELECT count(*) FROM payment.journal WHERE kind = 'pay')
                       <> (SELECT count(*) FROM payment.orders WHERE status = 'PAID') THEN 1 ELSE 0 END)
       + $NOTPAID")"
echo "ledger discrepancies: $DISC"

# issue 10's other figure in the same run: reconciling a 1,000,000-row statement
if [ "$RECON" = 1 ]; then
  echo "reconciliation (bench/recon.sh on the same PostgreSQL):"
  YW_BENCH_BUILD="$YW_BUILD_DIR" \
    YW_BENCH_PG_DSN="host=127.0.0.1 port=$YW_TEST_PG_PORT dbname=$E2E_DB user=postgres" \
    "$ROOT/bench/recon.sh" | sed 's/^/  /'
fi
[ "$DISC" = 0 ]
