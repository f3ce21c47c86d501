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

# --- what the browser test needs: missing is a failure, never a skip (./dev test
# installs them: chromium, nodejs/npm, `npm ci` in tests/web)
WEB="$YW_SOURCE_DIR/tests/web"
missing=""
command -v node >/dev/null 2>&1 || missing+=" node (Debian package nodejs)"
[ -x /usr/bin/chromium ] || missing+=" /usr/bin/chromium (Debian package chromium)"
[ -f "$WEB/node_modules/playwright-core/package.json" ] ||
  missing+=" playwright-core in tests/web/node_modules (cd tests/web && npm ci)"
if [ -n "$missing" ]; then
  echo "FAIL the finance console's browser test cannot run: missing$missing; ./dev test installs them"
  exit 1
fi

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

# --- the assets: every name carries the first 10 hex digits of its content's SHA-256
# (tests/web/rehash.js), so the year-long immutable caching can never serve stale bytes
PAGE="$YW_SOURCE_DIR/web/finance"
H="$E2E_TMP/headers"
assets_hashed() {
  local f n want refs=0
  for f in "$PAGE"/assets/*; do
    n="$(basename "$f")"
    want="$(sha256sum "$f" | cut -c1-10)"
    [[ "$n" == *".$want."* ]] || { echo "  $n: content hash is $want (node tests/web/rehash.js web/finance)"; return 1; }
    grep -q "\"/finance/assets/$n\"" "$PAGE/index.html" || { echo "  $n is not used by index.html"; return 1; }
    refs=$((refs + 1))
  done
  [ "$refs" = 2 ] || { echo "  expected one script and one style sheet, found $refs files"; return 1; }
}
check "the console's script and style sheet are named by their content hash" assets_hashed
no_inline() {
  # (the one address allowed is SVG's namespace name, which is never fetched)
  local urls
  urls="$(grep -Eohi 'https?://[^"'"'"' )]+' "$PAGE/index.html" "$PAGE"/assets/* || true)"
  ! grep -Eqi '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=' "$PAGE/index.html" &&
    [ -z "$(grep -vx 'http://www.w3.org/2000/svg' <<<"$urls")" ]
}
check "no inline script or style, no external address in the page or its assets" no_inline
immutable_assets() {
  local n
  for n in $(grep -o '/finance/assets/[^"]*' "$PAGE/index.html"); do
    curl -sS -o /dev/null -D "$H" "$GW$n"
    grep -qi '^cache-control: public, max-age=31536000, immutable' "$H" || return 1
  done
}
check "the gateway sends the hashed assets as immutable" immutable_assets
page_headers() {
  local s
  s="$(curl -sS -o /dev/null -D "$H" -w '%{http_code}' "$GW/finance/")"
  [ "$s" = 200 ] && grep -qi '^cache-control: no-cache' "$H" &&
    grep -qi "^content-security-policy: default-src 'self'; script-src 'self'; style-src 'self'" "$H"
}
check "the page itself is no-cache and carries the CSP" page_headers
check "/finance without its slash redirects to /finance/" \
  test "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$GW/finance")" = "301 $GW/finance/"

# --- the browser
OUT="$E2E_TMP/browser"
mkdir -p "$OUT"
set +e
(cd "$WEB" && YW_GW="$GW" YW_SIM="$PAYSIM/sim" YW_PASSWORD="$E2E_STAFF_PASSWORD" YW_MAKER=fin.maker \
  YW_CHECKER=fin.checker YW_CLERK=ga.clerk YW_OUT="$OUT" YW_EXC_ORDER="$EXC_ORDER" \
  YW_PAYER_REFUND="$PAYER_REFUND" \
  timeout 300 node finance.spec.js) >"$OUT/spec.log" 2>&1
rc=$?
set -e
cat "$OUT/spec.log"
E2E_PASSES=$((E2E_PASSES + $(grep -c '^ok ' "$OUT/spec.log" || true)))
E2E_FAILS=$((E2E_FAILS + $(grep -c '^FAIL ' "$OUT/spec.log" || true)))
check "the browser test ran to its end (exit $rc)" test "$rc" = 0

finish
