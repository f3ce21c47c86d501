#!/usr/bin/env bash
# e2e_finance.sh - a day's reconciliation through the gateway with the real processes:
# yw-paysim (channel sim), yw-payment (PaymentService and FinanceService), yw-identity and
# yw-gateway. A clerk issues a notice, the payer pays it in the simulator whose
# notification is lost (notify none), and the channel adds a payment the platform never
# created (tamper extra). A finance user imports the day's statement from the channel by
# API (ImportStatement without bytes), runs the day: both rows are channel-only, and the
# run asks the channel about them: ours is confirmed and booked (the order PAID, the
# exception resolved by the system), the stranger is held in suspense and left open. On
# it the maker proposes BOOK, the maker's own approval is 403, an approval naming another
# proposal than the one made 409, the checker's approval 412 (the channel's query does
# not confirm it); rejected, its WRITE_OFF (version 3) approved. A clerk may not read the
# reconciliation. The daily report downloads as CSV and as .xlsx (content-type,
# content-disposition; the zip's sheet XML holds the figures, read with unzip -p). A
# statement file uploaded as the raw CSV (the console's upload): refused over the
# channel's own statement unforced (412), of another merchant (400), by a clerk (403),
# empty (400), past the cap (413); a good one imported with source upload. A payment the
# channel forgets (the simulator started again) is platform-only, reversed by the run's
# question, and its order in finance's list of orders in EXCEPTION (finance and
# auditors, the payer masked; a clerk 403). A second stranger's money given back
# (REFUND approved) is refused by the channel: listed FAILED with the channel's code,
# then written off under maker-checker (the maker's approval 403, another proposal 409).
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start_paysim
e2e_start

e2e_staff fin.maker "" finance
e2e_staff fin.checker "" finance
e2e_staff ga.clerk 320700-GA dept_staff
MAKER="$(e2e_staff_token fin.maker)"
CHECKER="$(e2e_staff_token fin.checker)"
CLERK="$(e2e_staff_token ga.clerk)"
TODAY="$(TZ=Asia/Shanghai date +%F)"
J="$E2E_TMP/answer.json"

api() { # api TOKEN METHOD PATH [BODY] -> the status; the body in $J
  local tok="$1" m="$2" p="$3" b="${4:-}" auth=()
  [ -n "$tok" ] && auth=(-H "authorization: Bearer $tok")
  curl -sS -o "$J" -w '%{http_code}' -X "$m" "${auth[@]}" \
    -H 'content-type: application/json' -H "idempotency-key: e2e-$RANDOM$RANDOM" \
    ${b:+-d "$b"} "$GW$p"
}
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$J" "$1"; }

# --- a payment the channel then forgets: paid at the simulator on channel sim (booked
# PAID when the payer switches to sim-sm2: the close at sim is answered ORDER_PAID, its
# query books it), then the simulator started again (its orders are kept in memory
# only), so its statement of the day lacks the payment and the run's question about it
# is answered "no such order": reversed, the order EXCEPTION
e2e_staff fin.auditor "" auditor
AUDITOR="$(e2e_staff_token fin.auditor)"
s="$(api "$CLERK" POST /v1/payments/orders '{"itemCode":"FINE01","itemName":"交通违法罚款","amountFen":"880","payerName":"李四"}')"
check "the clerk issues a second notice (200)" test "$s" = 200
GONE="$(field 'd["id"]')"
GONE_CODE="$(field 'd["noticeCode"]')"
api "" POST "/v1/payments/notices/$GONE_CODE:pay" '{"channel":"sim"}' >/dev/null
GONE_OTN="$(field 'd["outTradeNo"]')"
curl -sS -d "{\"out_trade_no\":\"$GONE_OTN\",\"notify\":\"none\"}" "$PAYSIM/sim/sim/pay" >/dev/null
api "" POST "/v1/payments/notices/$GONE_CODE:pay" '{"channel":"sim-sm2"}' >/dev/null
gone_paid() { [ "$(api "$CLERK" GET "/v1/payments/orders/$GONE")" = 200 ] && [ "$(field 'd["status"]')" = ORDER_STATUS_PAID ]; }
for _ in $(seq 100); do gone_paid && break; sleep 0.1; done
check "the second order is PAID (its payment found by the switch's close)" gone_paid
kill "$PAYSIM_PID"
wait "$PAYSIM_PID" 2>/dev/null || true
YW_PAYSIM_LISTEN="${PAYSIM#http://}" YW_PAYSIM_KEYS_DIR="$E2E_TMP/paysim" \
  YW_PAYSIM_MERCHANTS="sim=$PAYSIM_MCHID_SIM:$PAYSIM_KEY_SIM,sim-sm2=$PAYSIM_MCHID_SM2:$PAYSIM_KEY_SM2" \
  "$YW_BUILD_DIR/payment/yw-paysim" >>"$E2E_TMP/paysim.log" 2>&1 &
PAYSIM_PID=$!
E2E_PIDS+=("$PAYSIM_PID")
for _ in $(seq 100); do curl -fsS "$PAYSIM/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
check "the simulator runs again, its orders forgotten" \
  eval '[ "$(curl -sS -o /dev/null -w "%{http_code}" "$PAYSIM/sim/sim/orders/$GONE_OTN")" = 404 ]'

# --- the day's business: one notice paid without its notification, one stranger
s="$(api "$CLERK" POST /v1/payments/orders '{"itemCode":"FINE01","itemName":"交通违法罚款","amountFen":"1250","payerName":"张三"}')"
check "the clerk issues a notice (200)" test "$s" = 200
CODE="$(field 'd["noticeCode"]')"
ORDER="$(field 'd["id"]')"
s="$(api "" POST "/v1/payments/notices/$CODE:pay" '{"channel":"sim"}')"
check "the payer starts paying on channel sim (200)" test "$s" = 200
OTN="$(field 'd["outTradeNo"]')"
curl -sS -d "{\"out_trade_no\":\"$OTN\",\"notify\":\"none\"}" "$PAYSIM/sim/sim/pay" >/dev/null
NOW="$(TZ=Asia/Shanghai date +%FT%T+08:00)"
# and a second stranger, whose money finance gives back and the channel refuses to take
curl -sS -d "{\"kind\":\"extra\",\"out_trade_no\":\"GIVEBACK$RANDOM\",\"amount\":300,\"success_time\":\"$NOW\"}" \
  "$PAYSIM/sim/sim/tamper" >/dev/null
curl -sS -d "{\"kind\":\"extra\",\"out_trade_no\":\"STRANGER$RANDOM\",\"amount\":700,\"success_time\":\"$NOW\"}" \
  "$PAYSIM/sim/sim/tamper" >/dev/null

# --- import by API and run the day
s="$(api "$MAKER" POST /v1/finance/statements:import "{\"channel\":\"sim\",\"date\":\"$TODAY\"}")"
check "the statement is imported from the channel (200, 3 rows, source api)" \
  eval '[ "$s" = 200 ] && [ "$(field "d[\"rowCount\"], d[\"source\"]")" = "(3, '"'"'api'"'"')" ]'
s="$(api "$MAKER" POST /v1/finance/statements:import "{\"channel\":\"sim\",\"date\":\"$TODAY\"}")"
check "importing the same file again is the same statement (reused)" \
  eval '[ "$s" = 200 ] && [ "$(field "d.get(\"reused\", False)")" = True ]'
s="$(api "$MAKER" POST /v1/finance/reconciliations "{\"channel\":\"sim\",\"date\":\"$TODAY\"}")"
check "the run classifies the three rows channel-only and the forgotten payment platform-only" \
  eval '[ "$s" = 200 ] && [ "$(field "[c.get(\"count\",\"0\") for c in d[\"classes\"]]")" = "['"'"'0'"'"', '"'"'0'"'"', '"'"'3'"'"', '"'"'1'"'"', '"'"'0'"'"']" ]'
s="$(api "$CLERK" GET "/v1/finance/reconciliations/sim/$TODAY")"
check "a clerk may not read the reconciliation (403)" test "$s" = 403
s="$(api "$CHECKER" GET "/v1/finance/reconciliations/sim/$TODAY?class=CHANNEL_ONLY")"
OURS="$(field "[r['exceptionId'] for r in d['results'] if r['key'] == '$OTN'][0]")"
THEIRS="$(field "[r['exceptionId'] for r in d['results'] if r['key'].startswith('STRANGER')][0]")"
BACK="$(field "[r['exceptionId'] for r in d['results'] if r['key'].startswith('GIVEBACK')][0]")"
check "the results name an exception each" test -n "$OURS" -a -n "$THEIRS" -a -n "$BACK"

# --- the run asked the channel: ours booked, the stranger held in suspense
s="$(api "$CHECKER" GET "/v1/finance/exceptions?includeResolved=true")"
check "ours is resolved by the system (BOOK, the channel confirmed it)" \
  eval '[ "$s" = 200 ] && [ "$(field "[(e[\"status\"], e[\"action\"], e[\"decidedBy\"]) for e in d[\"exceptions\"] if e[\"id\"] == \"$OURS\"]")" = "[('"'"'RESOLVED'"'"', '"'"'BOOK'"'"', '"'"'system'"'"')]" ]'
check "the stranger is left open, held in suspense" \
  eval '[ "$(field "[(e[\"status\"], \"suspense\" in e[\"note\"]) for e in d[\"exceptions\"] if e[\"id\"] == \"$THEIRS\"]")" = "[('"'"'OPEN'"'"', True)]" ]'
s="$(api "$CLERK" GET "/v1/payments/orders/$ORDER")"
check "the order is PAID" eval '[ "$s" = 200 ] && [ "$(field "d[\"status\"]")" = ORDER_STATUS_PAID ]'

# --- the forgotten payment: reversed by the run, the order in finance's exception queue
s="$(api "$CLERK" GET "/v1/payments/orders/$GONE")"
check "the forgotten payment's order is EXCEPTION (reversed by the run)" \
  eval '[ "$s" = 200 ] && [ "$(field "d[\"status\"]")" = ORDER_STATUS_EXCEPTION ]'
s="$(api "$CHECKER" GET "/v1/finance/orders?status=EXCEPTION")"
check "finance's exception orders list it: the reason, reversed, nothing booked, no action" \
  eval '[ "$s" = 200 ] && [ "$(field "[(o[\"amountFen\"], o[\"channel\"], o.get(\"reversed\", False), o.get(\"payBooked\", False), o.get(\"action\", \"\"), \"reversed\" in o[\"reason\"], int(o.get(\"ageSeconds\", \"0\")) >= 0) for o in d[\"orders\"] if o[\"id\"] == \"$GONE\"]")" = "[('"'"'880'"'"', '"'"'sim'"'"', True, False, '"'"''"'"', True, True)]" ]'
check "the payer is masked for finance" eval '[ "$(field "[o[\"payerName\"] for o in d[\"orders\"]]")" = "['"'"'*四'"'"']" ]'
s="$(api "$AUDITOR" GET "/v1/finance/orders?status=EXCEPTION")"
check "an auditor reads the exception orders, the payer masked" \
  eval '[ "$s" = 200 ] && [ "$(field "[o[\"payerName\"] for o in d[\"orders\"]]")" = "['"'"'*四'"'"']" ]'
s="$(api "$CLERK" GET "/v1/finance/orders?status=EXCEPTION")"
check "a clerk may not read the exception orders (403)" test "$s" = 403
s="$(api "$CHECKER" GET "/v1/finance/orders?status=PAID")"
check "only EXCEPTION is listed (another status 400)" test "$s" = 400

# --- maker-checker on the stranger
s="$(api "$MAKER" POST "/v1/finance/exceptions/$THEIRS:propose" '{"action":"BOOK","note":"ours?"}')"
check "the maker proposes BOOK (200, PROPOSED)" eval '[ "$s" = 200 ] && [ "$(field "d[\"status\"]")" = PROPOSED ]'
s="$(api "$MAKER" POST "/v1/finance/exceptions/$THEIRS:approve" '{"action":"BOOK","version":1}')"
check "the maker's own approval is refused (403)" test "$s" = 403
s="$(api "$CHECKER" POST "/v1/finance/exceptions/$THEIRS:approve" '{"action":"WRITE_OFF","version":1}')"
check "an approval naming another proposal than the one made is refused (409)" test "$s" = 409
s="$(api "$CHECKER" POST "/v1/finance/exceptions/$THEIRS:approve" '{"action":"BOOK","version":1}')"
check "BOOK of a row the channel's query does not confirm is refused (412)" test "$s" = 412
s="$(api "$CHECKER" POST "/v1/finance/exceptions/$THEIRS:reject" '{"action":"BOOK","version":1}')"
check "the checker rejects it (200, OPEN)" eval '[ "$s" = 200 ] && [ "$(field "d[\"status\"]")" = OPEN ]'
api "$MAKER" POST "/v1/finance/exceptions/$THEIRS:propose" '{"action":"WRITE_OFF","note":"not ours"}' >/dev/null
s="$(api "$CHECKER" POST "/v1/finance/exceptions/$THEIRS:approve" '{"action":"WRITE_OFF","version":3}')"
check "the stranger is written off to suspense" test "$s" = 200
# --- the second stranger given back: approved REFUND, the channel refuses it (it never
# had the trade), finance writes it off under maker-checker
api "$MAKER" POST "/v1/finance/exceptions/$BACK:propose" '{"action":"REFUND","note":"give it back"}' >/dev/null
s="$(api "$CHECKER" POST "/v1/finance/exceptions/$BACK:approve" '{"action":"REFUND","version":1}')"
check "the refund of the second stranger is approved" test "$s" = 200
ORN="$(printf 'RC%010d' "$BACK")"
s="$(api "$AUDITOR" GET /v1/finance/payer-refunds)"
check "the refund to the payer is listed FAILED with the channel's reason (an auditor reads it)" \
  eval '[ "$s" = 200 ] && [ "$(field "[(r[\"status\"], r[\"reason\"], r[\"amountFen\"]) for r in d[\"refunds\"] if r[\"outRefundNo\"] == \"$ORN\"]")" = "[('"'"'FAILED'"'"', '"'"'ORDER_NOT_EXIST'"'"', '"'"'300'"'"')]" ]'
s="$(api "$CLERK" GET /v1/finance/payer-refunds)"
check "a clerk may not read the refunds to payers (403)" test "$s" = 403
s="$(api "$MAKER" POST "/v1/finance/payer-refunds/$ORN:propose" '{"action":"WRITE_OFF","note":"the channel will not take it"}')"
check "the maker proposes writing it off (200, proposed, version 2)" \
  eval '[ "$s" = 200 ] && [ "$(field "d.get(\"proposed\", False), d[\"version\"]")" = "(True, 2)" ]'
s="$(api "$MAKER" POST "/v1/finance/payer-refunds/$ORN:approve" '{"action":"WRITE_OFF","version":2}')"
check "the maker's own approval of the write-off is refused (403)" test "$s" = 403
s="$(api "$CHECKER" POST "/v1/finance/payer-refunds/$ORN:approve" '{"action":"RETRY","version":2}')"
check "an approval naming another proposal is refused (409)" test "$s" = 409
s="$(api "$CHECKER" POST "/v1/finance/payer-refunds/$ORN:approve" '{"action":"WRITE_OFF","version":2}')"
check "the checker writes it off (WRITTEN_OFF)" \
  eval '[ "$s" = 200 ] && [ "$(field "d[\"status\"], d[\"decidedBy\"] != \"\"")" = "('"'"'WRITTEN_OFF'"'"', True)" ]'
s="$(api "$CHECKER" GET /v1/finance/payer-refunds)"
check "no refund to a payer is left open" eval '[ "$s" = 200 ] && [ "$(field "len(d.get(\"refunds\", []))")" = 0 ]'

s="$(api "$CHECKER" GET /v1/finance/exceptions)"
check "no exception is left open" eval '[ "$s" = 200 ] && [ "$(field "len(d.get(\"exceptions\", []))")" = 0 ]'

# --- the report as downloads
H="$E2E_TMP/headers"
s="$(curl -sS -o "$E2E_TMP/daily.csv" -D "$H" -w '%{http_code}' -H "authorization: Bearer $CHECKER" \
  "$GW/v1/finance/reports/daily?date=$TODAY&format=csv")"
check "the CSV downloads as text/csv with its file name" \
  eval '[ "$s" = 200 ] && grep -qi "^content-type: text/csv" "$H" && grep -qi "^content-disposition: attachment; filename=\"daily-$TODAY.csv\"" "$H"'
check "the CSV's channel line: 3 payments, 22.50 yuan" grep -q '^sim,3,22.50,0,0.00,' "$E2E_TMP/daily.csv"
check "the CSV's channel line: the forgotten payment reversed (1, 8.80 yuan)" \
  grep -q '^sim,3,22.50,0,0.00,[0-9.]*,0,[0-9]*,1,8.80' "$E2E_TMP/daily.csv"
check "the CSV's department line: both payments booked, the reversal netting one out" \
  grep -q '^320700-GA,2,21.30,0,0.00,1,8.80' "$E2E_TMP/daily.csv"
s="$(curl -sS -o "$E2E_TMP/daily.xlsx" -D "$H" -w '%{http_code}' -H "authorization: Bearer $CHECKER" \
  "$GW/v1/finance/reports/daily?date=$TODAY&format=xlsx")"
check "the .xlsx downloads with its content type" \
  eval '[ "$s" = 200 ] && grep -qi "^content-type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" "$H"'
check "its remittance sheet holds the booked 12.50 yuan" \
  eval 'unzip -p "$E2E_TMP/daily.xlsx" xl/worksheets/sheet3.xml | grep -q "<v>12.5</v>"'
check "its channel sheet holds 22.50 yuan" \
  eval 'unzip -p "$E2E_TMP/daily.xlsx" xl/worksheets/sheet1.xml | grep -q "<v>22.5</v>"'

# --- a statement file uploaded as the console sends it: the raw CSV through the gateway
upload() { # upload TOKEN DATE FILE [QUERY] -> the status; the body in $J
  local auth=()
  [ -n "$1" ] && auth=(-H "authorization: Bearer $1")
  curl -sS -o "$J" -w '%{http_code}' -X POST "${auth[@]}" -H 'content-type: text/csv' \
    --data-binary "@$3" "$GW/v1/finance/statements/sim/$2:upload${4:-}"
}
statement() { # statement DATE MCHID -> one payment of 1.00 yuan at 10:00 on DATE, as CSV
  printf '交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\r\n'
  printf '`%s 10:00:00,`%s,`UP%s,`T1,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.01,`0.60%%\r\n' "$1" "$2" "$RANDOM"
  printf '总交易单数,应结订单总金额,退款总金额,手续费总金额\r\n`1,`1.00,`0.00,`0.01\r\n'
}
YESTERDAY="$(TZ=Asia/Shanghai date -d yesterday +%F)"
statement "$TODAY" "$PAYSIM_MCHID_SIM" >"$E2E_TMP/today.csv"
statement "$YESTERDAY" "$PAYSIM_MCHID_SIM" >"$E2E_TMP/up.csv"
statement "$YESTERDAY" 1900000009 >"$E2E_TMP/other.csv"
: >"$E2E_TMP/empty.csv"
head -c $((9 << 20)) /dev/zero | tr '\0' 'a' >"$E2E_TMP/big.csv"
s="$(upload "$MAKER" "$TODAY" "$E2E_TMP/today.csv")"
check "an upload over the statement fetched from the channel is refused unforced (412)" \
  eval '[ "$s" = 412 ] && grep -q "fetched from the channel" "$J"'
s="$(upload "$MAKER" "$YESTERDAY" "$E2E_TMP/other.csv")"
check "another merchant's statement is refused (400)" eval '[ "$s" = 400 ] && grep -q "is not the merchant" "$J"'
s="$(upload "$CLERK" "$YESTERDAY" "$E2E_TMP/up.csv")"
check "a clerk may not upload (403)" test "$s" = 403
s="$(upload "$MAKER" "$YESTERDAY" "$E2E_TMP/empty.csv")"
check "an empty upload is refused (400), not fetched from the channel" \
  eval '[ "$s" = 400 ] && grep -q "file is empty" "$J"'
s="$(upload "$MAKER" "$YESTERDAY" "$E2E_TMP/big.csv")"
check "an upload past the cap is refused (413)" test "$s" = 413
s="$(upload "$MAKER" "$YESTERDAY" "$E2E_TMP/up.csv")"
check "the file uploads (200, 1 row, source upload)" \
  eval '[ "$s" = 200 ] && [ "$(field "d[\"rowCount\"], d[\"source\"]")" = "(1, '"'"'upload'"'"')" ]'

finish
