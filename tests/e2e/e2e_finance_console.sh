#!/usr/bin/env bash
# e2e_finance_console.sh - the finance console (web/finance/, 财务对账) in a real browser:
# the system started as in the other e2e tests, the page served by yw-gateway under
# /finance/, and headless Chromium (Debian's /usr/bin/chromium) driven by
# tests/web/finance.spec.js with playwright-core (tests/web, `npm ci` by ./dev test).
# Checks here: the page's assets are content-hashed under their true hash and sent as
# immutable, the page with the gateway's CSP; then the browser checks (finance.spec.js):
# sign-in with a TOTP code the test computes, the token only in sessionStorage, sign-out
# ending the session, the day's reconciliation and its chart, the exception queue with
# maker-checker, the queue of orders in EXCEPTION (the payer masked, a booked one refunded
# from the page), the refunds to payers (a refused one written off by maker and checker),
# the CSV and XLSX downloads; no request leaves the origin.
source "$(dirname "$0")/lib.sh"

e2e_browser_tools "the finance console"

export YW_GATEWAY_STATIC="/finance/=$YW_SOURCE_DIR/web/finance"
# payments are booked by yw-payment's janitor asking the channel (every 100 ms, at once):
# the simulator sends no notification in this test (they are e2e_payment's subject)
export YW_PAYMENT_JANITOR_MS=100 YW_PAYMENT_PAYING_WINDOW_S=0
export YW_PAYMENT_NOTIFY_BASE="http://127.0.0.1:9/v1/payments/notify"
e2e_database
e2e_start_paysim
e2e_start

# --- staff: two finance users (maker and checker) and a clerk without the finance role
e2e_staff fin.maker "" finance
e2e_staff fin.checker "" finance
e2e_staff ga.clerk 320700-GA dept_staff

# --- an order in EXCEPTION with its payment booked, for the queue of exception orders:
# issued, paid at the simulator (booked PAID by the janitor's query), then moved to
# EXCEPTION "paid after close" as pay_book_paid leaves a payment booked after its close
# (the order's status and its event in one statement). The simulator refuses to take a
# closed order's payment, so that state is written here rather than provoked.
CLERK_TOKEN="$(e2e_staff_token ga.clerk)"
J="$E2E_TMP/order.json"
curl -sS -o "$J" -H "authorization: Bearer $CLERK_TOKEN" -H 'content-type: application/json' \
  -H "idempotency-key: exc-$RANDOM$RANDOM" \
  -d '{"itemCode":"FIN-EXC","itemName":"关单后到账测试","amountFen":"660","payerName":"张三"}' \
  "$GW/v1/payments/orders"
EXC_ORDER="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$J")"
EXC_CODE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["noticeCode"])' "$J")"
curl -sS -o "$J" -H 'content-type: application/json' -d '{"channel":"sim"}' "$GW/v1/payments/notices/$EXC_CODE:pay"
EXC_OTN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outTradeNo"])' "$J")"
curl -sS -d "{\"out_trade_no\":\"$EXC_OTN\",\"notify\":\"none\"}" "$PAYSIM/sim/sim/pay" >/dev/null
exc_paid() {
  curl -sS -H "authorization: Bearer $CLERK_TOKEN" "$GW/v1/payments/orders/$EXC_ORDER" | grep -q ORDER_STATUS_PAID
}
for _ in $(seq 200); do exc_paid && break; sleep 0.1; done
check "the order for the exception queue is paid (booked by the janitor)" exc_paid
psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -q -v ON_ERROR_STOP=1 \
  -v id="$EXC_ORDER" >/dev/null <<'SQL'
WITH o AS (UPDATE payment.orders SET status = 'EXCEPTION', exception_reason = 'paid after close (booked)'
           WHERE id = :'id'::uuid AND status = 'PAID' RETURNING id)
INSERT INTO payment.order_events (order_id, from_status, to_status, reason, actor)
SELECT id, 'PAID', 'EXCEPTION', 'paid after close (booked)', 'channel:sim' FROM o;
SQL

# --- a refund to a payer the channel refused: two days ago (before the browser's days)
# a statement with a stranger's payment is uploaded and run, one finance user proposes
# REFUND and another approves it (two more finance accounts: the browser enrols the
# authenticators of its own two); the channel never had the trade and refuses: FAILED
e2e_staff fin.prep1 "" finance
e2e_staff fin.prep2 "" finance
MAKER_TOKEN="$(e2e_staff_token fin.prep1)"
CHECKER_TOKEN="$(e2e_staff_token fin.prep2)"
D2="$(TZ=Asia/Shanghai date -d '2 days ago' +%F)"
{
  printf '交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\r\n'
  printf '`%s 10:00:00,`%s,`GIVEBACK%s,`T1,`NATIVE,`SUCCESS,`3.00,`,`0.00,`0.02,`0.60%%\r\n' "$D2" "$PAYSIM_MCHID_SIM" "$RANDOM"
  printf '总交易单数,应结订单总金额,退款总金额,手续费总金额\r\n`1,`3.00,`0.00,`0.02\r\n'
} >"$E2E_TMP/giveback.csv"
fin() { # fin TOKEN METHOD PATH [BODY] -> the body in $J
  curl -sS -o "$J" -X "$2" -H "authorization: Bearer $1" -H 'content-type: application/json' \
    -H "idempotency-key: fin-$RANDOM$RANDOM" ${4:+-d "$4"} "$GW$3"
}
curl -sS -o "$J" -X POST -H "authorization: Bearer $MAKER_TOKEN" -H 'content-type: text/csv' \
  --data-binary "@$E2E_TMP/giveback.csv" "$GW/v1/finance/statements/sim/$D2:upload"
fin "$MAKER_TOKEN" POST /v1/finance/reconciliations "{\"channel\":\"sim\",\"date\":\"$D2\"}"
fin "$MAKER_TOKEN" GET "/v1/finance/reconciliations/sim/$D2?class=CHANNEL_ONLY"
BACK="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["exceptionId"])' "$J")"
fin "$MAKER_TOKEN" POST "/v1/finance/exceptions/$BACK:propose" '{"action":"REFUND","note":"a stranger: give it back"}'
fin "$CHECKER_TOKEN" POST "/v1/finance/exceptions/$BACK:approve" '{"action":"REFUND","version":1}'
PAYER_REFUND="$(printf 'RC%010d' "$BACK")"
refund_refused() {
  fin "$CHECKER_TOKEN" GET /v1/finance/payer-refunds
  grep -q "\"outRefundNo\":\"$PAYER_REFUND\",.*\"status\":\"FAILED\"" "$J"
}
check "a refund to a payer the channel refused is there for the browser (FAILED)" refund_refused

# --- the page folder's rules: assets named by their content hash and immutable, no
# inline script or style, no other origin, the CSP
e2e_web_page "$YW_SOURCE_DIR/web/finance" /finance/
check "/finance without its slash redirects to /finance/" \
  test "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$GW/finance")" = "301 $GW/finance/"

# --- the browser
e2e_browser_run finance.spec.js YW_GW="$GW" YW_SIM="$PAYSIM/sim" YW_PASSWORD="$E2E_STAFF_PASSWORD" \
  YW_MAKER=fin.maker YW_CHECKER=fin.checker YW_CLERK=ga.clerk YW_EXC_ORDER="$EXC_ORDER" \
  YW_PAYER_REFUND="$PAYER_REFUND"

finish
