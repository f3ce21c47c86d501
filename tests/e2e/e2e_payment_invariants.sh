#!/usr/bin/env bash
# e2e_payment_invariants.sh - issue 10's money invariants under faults, on the real
# processes: yw-gateway, yw-payment (its janitor, relay and receipts pass), yw-paysim,
# a PostgreSQL and a Redis of the test's own.
#
# A workload (payment_invariants.py run) issues a few hundred notices through the
# gateway from several clients at once and takes each through a scenario: paid with its
# notification duplicated (parallel copies, serial copies), paid without a notification
# (only the janitor's query can find it), paid then refunded in part and in full at once
# on one view, paid then refunded in two steps, offered and never paid then expired,
# issued only then expired, paid at its expiry, paid silently then expired, switched
# from channel sim to sim-sm2 and paid there, paid on sim then offered on sim-sm2 (the
# close finds it paid: booked, the switch refused). Meanwhile the
# test SIGKILLs yw-payment and starts it again, SIGSTOPs the channel (yw-paysim) for 3 s,
# longer than yw-payment's bound on a channel call, SIGSTOPs Redis for 3 s, and restarts
# PostgreSQL (pg_ctl restart -m fast) once; a fault the workload meets is retried with
# the same Idempotency-Key, within a bound. After the workload every notification of
# every order the channel took is sent again, twice, newest first (late, duplicated, out
# of order). Then, polling with a bound until the janitor, the relay and the receipts
# pass have nothing left, it asserts (payment_invariants.py check, SQL, the simulator's
# view, the event stream, the API):
#   - no order paid twice at the channels; every order the channel took is PAID or
#     REFUNDED, through exactly one PAID transition, on the channel order the channel
#     took; every other order CLOSED; every channel order the channel did not take
#     closed there; none open past its expiry; none EXCEPTION; a switch after the first
#     channel took the payment refused 412 without a new channel order;
#   - every notification acknowledged, and in the inbox once;
#   - exactly one pay journal per paid order, for its amount, none for the others; every
#     journal sums to zero (and ledger_check itself finds nothing: yw-pay-ledger-check);
#   - per order, the refunds that succeeded sum to at most the amount and equal the
#     channel's refunds, refunded_fen and the refund journals; none left PENDING; of a
#     partial and a full refund sent at once exactly one passed (the other 412); an audit
#     record per refund;
#   - one payment.order_paid event per paid order in the outbox, all published, and the
#     stream holds exactly those event ids; one payment.refunded per refund;
#   - one BLUE receipt per paid order, one RED per refund;
#   - per channel, the day's reconciliation against the channel's statement (imported by
#     API): every payment and refund row MATCHED, no other class (every fault here
#     resolves before the run, so none can explain a discrepancy), the statement's totals
#     equal the platform's, and channel_receivable:<channel> settles to zero.
source "$(dirname "$0")/lib.sh"

T0=$SECONDS
ORDERS="${INV_ORDERS:-275}"
CLIENTS="${INV_CLIENTS:-6}"
e2e_private_redis
e2e_private_pg
export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_PAYMENT_DATA_KEY="$(openssl rand -hex 32)"
e2e_database
# the channel retries a refused notification for some 6 s: longer than any fault here
PAYSIM_RETRY_MS="100,200,400,800,1600,3200" e2e_start_paysim
e2e_start
openssl genpkey -algorithm SM2 -out "$E2E_TMP/pay-seal.key" 2>/dev/null

# yw-payment with the gateway's notification URL, a quick janitor (a pass every 200 ms,
# orders 2 s unchanged queried) and receipts (a pass every 300 ms); also how it comes
# back after SIGKILL
start_payment() {
  e2e_payment_restart "$E2E_PKI/ca.crt" YW_PAYMENT_JANITOR_MS=200 YW_PAYMENT_PAYING_WINDOW_S=2 \
    YW_PAYMENT_CHANNEL_TIMEOUT_MS=2000 YW_PAYMENT_SEAL_KEY="$E2E_TMP/pay-seal.key" \
    YW_PAYMENT_RECEIPTS_MS=300
}
check "yw-payment starts with the channels, the gateway's notification URL and a seal" start_payment

e2e_staff ga.admin 320700-GA dept_admin,dept_staff
e2e_staff fin.inv "" finance
export TOKEN GW PAYSIM
TOKEN="$(e2e_staff_token ga.admin)"
FIN="$(e2e_staff_token fin.inv)"
export PGPORT="$YW_TEST_PG_PORT" PGDB="$E2E_DB" REDIS_ADDR="$YW_TEST_REDIS_ADDR"
export STREAM="$E2E_DB:events:{payment}"
PY=(/usr/bin/python3 "$YW_SOURCE_DIR/tests/e2e/payment_invariants.py")
STATE="$E2E_TMP/inv.json"
PSQL_PAY=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)
DAY="$(TZ=Asia/Shanghai date +%F)"

phase() { echo "at $((SECONDS - T0)) s: $*"; }
# --- the workload, and the faults while it runs
phase "the workload starts"
"${PY[@]}" run "$STATE" "$ORDERS" "$CLIENTS" &
DRIVER=$!
E2E_PIDS+=("$DRIVER")
wait_progress() { # wait_progress N: until the workload has done N orders or ended (bounded)
  local _ n
  for _ in $(seq 1800); do
    n="$(cat "$STATE.progress" 2>/dev/null || echo 0)"
    [ "$n" -ge "$1" ] && return 0
    kill -0 "$DRIVER" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}
progress() { cat "$STATE.progress" 2>/dev/null || echo 0; }

wait_progress $((ORDERS / 8))
echo "fault: SIGKILL yw-payment after $(progress) orders"
kill -9 "$PAYMENT_PID"; wait "$PAYMENT_PID" 2>/dev/null || true
check "yw-payment starts again after SIGKILL" start_payment

wait_progress $((ORDERS * 2 / 8))
# the channel stalls longer than yw-payment's bound on a call to it (2 s): prepays and
# refunds in flight get no answer (orders UNKNOWN, refunds PENDING, for the janitor)
echo "fault: SIGSTOP yw-paysim for 3 s after $(progress) orders"
kill -STOP "$PAYSIM_PID"
sleep 3 # the length of the stall, not a wait for work
kill -CONT "$PAYSIM_PID"

wait_progress $((ORDERS * 4 / 8))
echo "fault: SIGSTOP Redis for 3 s after $(progress) orders"
kill -STOP "$REDIS_PID"
sleep 3 # the length of the stall, not a wait for work
kill -CONT "$REDIS_PID"

wait_progress $((ORDERS * 6 / 8))
echo "fault: pg_ctl restart -m fast after $(progress) orders"
check "PostgreSQL restarts (-m fast)" e2e_pg_restart fast

check "the workload ends" wait "$DRIVER"

# --- settled: nothing left for the janitor, the relay or the receipts pass (bounded)
settled() {
  local _
  for _ in $(seq 120); do
    "${PY[@]}" settled "$STATE" >"$E2E_TMP/settled.out" 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
phase "the workload ended"
check "the janitor, the relay and the receipts pass settle within 60 s" settled
phase "settled"
cat "$E2E_TMP/settled.out"

# --- the invariants
"${PY[@]}" check "$STATE" | tee "$E2E_TMP/check.out" || true
E2E_PASSES=$((E2E_PASSES + $(grep -c '^ok ' "$E2E_TMP/check.out" || true)))
E2E_FAILS=$((E2E_FAILS + $(grep -c '^FAIL ' "$E2E_TMP/check.out" || true)))
grep -q '^ok   every journal sums to zero' "$E2E_TMP/check.out" ||
  fail "the checks ran to the end (see above)"
phase "checked"
LEDGER_DSN="host=127.0.0.1 port=$YW_TEST_PG_PORT dbname=$E2E_DB user=postgres"
check "ledger_check finds nothing: $("$YW_BUILD_DIR/tests/yw-pay-ledger-check" "$LEDGER_DSN" 2>&1 | head -1)" \
  "$YW_BUILD_DIR/tests/yw-pay-ledger-check" "$LEDGER_DSN"

# --- the day's reconciliation against the channel's statement
J="$E2E_TMP/answer.json"
api() { # api METHOD PATH [BODY] -> the status; the body in $J
  curl -sS -o "$J" -w '%{http_code}' -X "$1" -H "authorization: Bearer $FIN" \
    -H 'content-type: application/json' ${3:+-d "$3"} "$GW$2"
}
jq_() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$J" "$1"; }
on_channel() { # on_channel CHANNEL SQL: SQL (reading the channel as :'ch') -> its answer
  "${PSQL_PAY[@]}" -v ch="$1" <<<"$2"
}
if [ "$(TZ=Asia/Shanghai date +%F)" != "$DAY" ]; then
  # the workload ran across midnight in Asia/Shanghai: its rows fall on two statements
  echo "note: the run crossed midnight (Asia/Shanghai); the reconciliation is not asserted"
else
  # every fault here resolves before the run (the janitor settled: nothing in doubt,
  # no refund pending), so none can explain a discrepancy: every row must match
  while read -r CH N_PAID N_REFUNDS; do
    N=$((N_PAID + N_REFUNDS))
    s="$(api POST /v1/finance/statements:import "{\"channel\":\"$CH\",\"date\":\"$DAY\"}")"
    check "$CH: finance imports the day's statement from the channel (200, $N rows)" \
      eval '[ "$s" = 200 ] && [ "$(jq_ "d[\"rowCount\"]")" = $N ]'
    head -c 600 "$J"; echo
    PLATFORM="$(on_channel "$CH" "SELECT coalesce(sum(amount_fen) FILTER (WHERE kind = 'pay'), 0) || ' ' ||
      coalesce(-sum(amount_fen) FILTER (WHERE kind = 'refund'), 0) FROM payment.journal j
      JOIN payment.postings p ON p.journal_id = j.id WHERE p.account = 'channel_receivable:' || :'ch'")"
    check "$CH: its payment and refund totals are the platform's ($PLATFORM fen)" \
      eval '[ "$(jq_ "d[\"payTotalFen\"] + \" \" + d.get(\"refundTotalFen\", \"0\")")" = "$PLATFORM" ]'
    s="$(api POST /v1/finance/reconciliations "{\"channel\":\"$CH\",\"date\":\"$DAY\"}")"
    head -c 600 "$J"; echo
    check "$CH: the run: $N rows MATCHED, no other class" \
      eval '[ "$s" = 200 ] && [ "$(jq_ "{c[\"class\"]: int(c.get(\"count\", \"0\")) for c in d[\"classes\"] if int(c.get(\"count\", \"0\"))}")" = "{'"'"'MATCHED'"'"': $N}" ]'
    check "$CH: no exception is open" eval '[ "$(jq_ "d.get(\"openExceptions\", 0)")" = 0 ]'
    check "$CH: channel_receivable:$CH settles to zero" \
      eval '[ "$(on_channel "$CH" "SELECT coalesce(sum(amount_fen), 0) FROM payment.postings WHERE account = '"'channel_receivable:'"' || :'"'ch'"'")" = 0 ]'
  done <"$STATE.booked"
  check "ledger_check still finds nothing after settlement" \
    "$YW_BUILD_DIR/tests/yw-pay-ledger-check" "$LEDGER_DSN"
fi

echo "wall time: $((SECONDS - T0)) s"
finish
