#!/usr/bin/env bash
# e2e_payment.sh - unified payment through the real gateway, yw-payment and the channel
# simulator yw-paysim, every process on mutual TLS: department staff issue a notice once
# per Idempotency-Key (none: 400, another body: 422); anyone finds it by its notice code
# (payer masked; a wrong check digit is 400); the resident pays on channel sim; the
# simulator's signed notification reaches yw-payment through the gateway's raw-body
# route (the exact bytes and the Yw-Pay-* headers), books the order PAID and is
# acknowledged with {"code":"SUCCESS"}; a forged notification gets a non-2xx and an
# oversized one 413; R5: yw-payment killed (SIGKILL) while the channel takes a payment
# it never notifies, started again, its janitor's query books the order PAID; the payee
# department's administrator refunds part of an order once per Idempotency-Key, another
# department cannot; the notice's QR code; the ledger balances at the end.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_PAYMENT_DATA_KEY="$(openssl rand -hex 32)"
e2e_database
e2e_start_paysim
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

# yw-payment as e2e_start started it, with the gateway's notification URL and a quick
# janitor (1 s window, a pass every 200 ms); also how it comes back after SIGKILL
start_payment() {
  YW_PAYMENT_LISTEN="$PAYMENT_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
    YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_payment}" \
    YW_PAYMENT_CHANNELS="$E2E_PAYMENT_CHANNELS" YW_PAYMENT_CHANNEL_KEYS="$E2E_PAYMENT_CHANNEL_KEYS" \
    YW_PAYMENT_NOTIFY_BASE="$GW/v1/payments/notify" YW_PAYMENT_JANITOR_MS=200 YW_PAYMENT_PAYING_WINDOW_S=1 \
    YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/payment.crt" YW_TLS_KEY="$E2E_PKI/payment.key" \
    YW_TLS_CLIENT_NAMES=gateway \
    "$YW_BUILD_DIR/payment/yw-payment" >>"$E2E_TMP/payment.log" 2>&1 &
  PAYMENT_PID=$!
  E2E_PIDS+=("$PAYMENT_PID")
  local _
  for _ in $(seq 100); do # up: an unknown channel is the service's 404, not the gateway's 503
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/payments/notify/none" -d x)" = 404 ] && return 0
    sleep 0.1
  done
  return 1
}
kill "$PAYMENT_PID"; wait "$PAYMENT_PID" 2>/dev/null || true
check "yw-payment starts with the channels and the gateway's notification URL" start_payment

e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff ga.admin 320700-GA dept_admin,dept_staff
e2e_staff sw.admin 320700-SW dept_admin,dept_staff
GA="$(e2e_staff_token ga.clerk)"
GA_ADMIN="$(e2e_staff_token ga.admin)"
SW_ADMIN="$(e2e_staff_token sw.admin)"
RES="$(verified_resident 13900000021 张三 320706199001011230)"
req GET /v1/me "$RES"
SUBJECT="$(field "d['subject']")"
PSQL_PAY=("${PSQL[@]}")

# create KEY AMOUNT -> $S, $B
create() {
  local args=(-sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders" -H "authorization: Bearer $GA"
    -H 'content-type: application/json')
  [ -n "$1" ] && args+=(-H "idempotency-key: $1")
  S="$(curl "${args[@]}" --data-binary "{\"itemCode\":\"FINE01\",\"itemName\":\"交通违法罚款\",\"amountFen\":\"$2\",\"payerName\":\"王五\",\"payerSubject\":\"$SUBJECT\"}")"
}
create "" 1250
expect_status "an order without an Idempotency-Key is refused" 400
create k-1 1250
expect_status "department staff issue a notice" 200
ID="$(field "d['id']")"
CODE="$(field "d['noticeCode']")"
check "it is CREATED, payable to the staff's department, 20-digit code" \
  holds "d['status'] == 'ORDER_STATUS_CREATED' and d['payeeDepartment'] == '320700-GA' and len(d['noticeCode']) == 20"
create k-1 1250
check "the same key answers the same order" holds "d['id'] == '$ID'"
create k-1 1251
expect_status "the same key with another body is refused" 422

req GET "/v1/payments/notices/$CODE"
expect_status "anyone finds the notice by its code" 200
check "the payer's name is masked there" holds "d['payerName'] != '王五' and '*' in d['payerName']"
LAST="${CODE:19:1}"; BAD="${CODE:0:19}$(( (LAST + 1) % 10 ))"
req GET "/v1/payments/notices/$BAD"
expect_status "a code with a wrong check digit is 400" 400

req POST "/v1/payments/orders/$ID:pay" "$RES" '{"channel":"sim"}'
expect_status "the resident pays on channel sim" 200
NO="$(field "d['outTradeNo']")"
check "the channel's pay parameters come back" holds "d['codeUrl'] != '' and d['prepayId'] != ''"

# sim_pay NO NOTIFY: the payer pays in the simulator's wallet
sim_pay() { curl -fsS -o /dev/null "$PAYSIM/sim/sim/pay" -d "{\"out_trade_no\":\"$1\",\"payer\":\"o_e2e\",\"notify\":\"$2\"}"; }
# wait_status ID STATUS: polls the order as the resident (bounded, 10 s)
wait_status() {
  local _
  for _ in $(seq 100); do
    req GET "/v1/payments/orders/$1" "$RES"
    holds "d['status'] == '$2'" && return 0
    sleep 0.1
  done
  return 1
}
sim_pay "$NO" normal
check "the channel's notification through the gateway books the order PAID" wait_status "$ID" ORDER_STATUS_PAID
check "the simulator got its acknowledgement" \
  eval 'curl -fsS "$PAYSIM/sim/sim/orders/$NO" | /usr/bin/python3 -c "import json,sys; n=json.load(sys.stdin)[\"notifications\"][0]; sys.exit(0 if n[\"acked\"] else 1)"'
check "one pay journal for it" \
  eval '[ "$("${PSQL_PAY[@]}" -c "SELECT count(*) FROM payment.journal WHERE kind = '"'pay'"' AND ref = '"'$NO'"'")" = 1 ]'

S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/notify/sim" -H 'content-type: application/json' \
  -H 'Yw-Pay-Timestamp: 1' -H 'Yw-Pay-Nonce: n' -H 'Yw-Pay-Serial: x' -H 'Yw-Pay-Signature: AAAA' \
  --data-binary '{"id":"forged"}')"
check "a forged notification gets a non-2xx answer (the channel would retry)" eval '[ "$S" -ge 400 ]'
head -c 20000 /dev/zero | tr '\0' 'a' >"$E2E_TMP/big"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/notify/sim" --data-binary @"$E2E_TMP/big")"
expect_status "a notification larger than the route's 16 KiB is 413" 413

# R5: the process dies while the channel takes the payment; the janitor finds it
create k-2 990
ID2="$(field "d['id']")"
req POST "/v1/payments/orders/$ID2:pay" "$RES" '{"channel":"sim"}'
NO2="$(field "d['outTradeNo']")"
kill -9 "$PAYMENT_PID"; wait "$PAYMENT_PID" 2>/dev/null || true
sim_pay "$NO2" none
check "yw-payment starts again after SIGKILL" start_payment
check "its janitor's query books the order the channel took PAID" wait_status "$ID2" ORDER_STATUS_PAID
check "the janitor made that change" \
  eval '[ "$("${PSQL_PAY[@]}" -c "SELECT actor FROM payment.order_events WHERE order_id = '"'$ID2'"' AND to_status = '"'PAID'"'")" = janitor ]'

refund() { # refund TOKEN KEY BODY
  local args=(-sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders/$ID:refund" -H "authorization: Bearer $1"
    -H 'content-type: application/json')
  [ -n "$2" ] && args+=(-H "idempotency-key: $2")
  S="$(curl "${args[@]}" --data-binary "$3")"
}
refund "$GA_ADMIN" "" '{"amount":"300","reason":"多收","expectedRefundable":"1250"}'
expect_status "a refund without an Idempotency-Key is refused" 400
refund "$SW_ADMIN" rf-1 '{"amount":"300","reason":"多收","expectedRefundable":"1250"}'
expect_status "another department's administrator cannot refund" 404
refund "$GA_ADMIN" rf-1 '{"amount":"300","reason":"多收","expectedRefundable":"1250"}'
expect_status "the payee department's administrator refunds part" 200
check "refunded at the channel, 950 fen left" holds "d['status'] == 'SUCCESS' and d['refundableAfter'] == '950'"
refund "$GA_ADMIN" rf-2 '{"amount":"300","reason":"again","expectedRefundable":"1250"}'
expect_status "a refund on a stale view of the refundable amount is refused" 412

req GET "/v1/payments/orders/$ID/qr" "$RES"
expect_status "the notice's QR code" 200
check "it is an SVG of the notice code" holds "d['svg'].startswith('<svg') and d['content'] == 'YWPAY:$CODE'"

check "every journal sums to zero, and so do all postings" \
  eval '[ "$("${PSQL_PAY[@]}" -c "SELECT (SELECT count(*) FROM (SELECT journal_id FROM payment.postings GROUP BY 1 HAVING sum(amount_fen) <> 0) x) + (SELECT abs(coalesce(sum(amount_fen), 0)) FROM payment.postings)")" = 0 ]'
finish
