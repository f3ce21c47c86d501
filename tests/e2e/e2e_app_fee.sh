#!/usr/bin/env bash
# e2e_app_fee.sh - an application's fee paid through unified payment, end to end through
# the real gateway, yw-applications, yw-progress, yw-payment and the channel simulator,
# every process on mutual TLS (yw-payment asks yw-applications with its own client
# certificate, payment-client): a verified resident applies for the passport (120.00
# yuan, paid online); before approval no order is issued (412); once APPROVED the
# department cannot complete it (412); the resident asks for the order of the fee (the
# application's amount and payee; the payer the verified name yw-identity gives) and gets
# the same open order again; pays it in the
# simulator; the channel's notification is booked; yw-applications records the payment
# from yw-payment's stream (fee paid, the step 已缴费 in its timeline); the department
# completes it; the public progress lookup shows the step; the payer reads the fiscal
# e-receipt and its SM2 signature verifies offline with openssl under the seal's public
# key, a changed content does not; anyone verifies it by number and code (payer masked).
# A company's fee is the company's: the representative acting for it orders the fee of
# an application its agent filed; the agent without pay is refused (403), and acting for
# nobody neither of them reaches it (404).
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_PAYMENT_DATA_KEY="$(openssl rand -hex 32)"
e2e_database
e2e_start_paysim
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

# yw-payment again, with the gateway's notification URL, the seal of receipts and a quick
# pass; it asks yw-applications (APPLICATIONS_ADDR) with its client certificate
openssl genpkey -algorithm SM2 -out "$E2E_TMP/receipts.key" 2>/dev/null
openssl pkey -in "$E2E_TMP/receipts.key" -pubout -out "$E2E_TMP/receipts.pub" 2>/dev/null
check "yw-payment starts with yw-applications, the channels and the seal" \
  e2e_payment_restart "$E2E_PKI/ca.crt" YW_PAYMENT_SEAL_KEY="$E2E_TMP/receipts.key" YW_PAYMENT_RECEIPTS_MS=100

e2e_staff ga.clerk 320700-GA dept_staff
GA="$(e2e_staff_token ga.clerk)"
RES="$(verified_resident 13900000031 张三 320706199001011230)"
ITEM=XK00001000-320700-GA # 普通护照签发: 120.00 yuan paid online, 320700-GA alone

step() { # step NUMBER VERB [JSON]: the lead department's clerk
  local body="${3:-}"
  [ -n "$body" ] || body='{}'
  req POST "/v1/departments/320700-GA/applications/$1:$2" "$GA" "$body"
}
order() { # order NUMBER KEY: the resident asks for the order of the fee
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders" -H "authorization: Bearer $RES" \
    -H 'content-type: application/json' -H "idempotency-key: $2" --data-binary "{\"applicationNumber\":\"$1\"}")"
}
# poll PATH TOKEN PYTHON: the answer holds within 10 s
poll() {
  local _
  for _ in $(seq 100); do
    req GET "$1" "$2"
    holds "$3" && return 0
    sleep 0.1
  done
  return 1
}

req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"name\":\"张三\"}}"
expect_status "the resident applies for the passport (200)" 200
N="$(field "d['application']['number']")"
QC="$(field "d['queryCode']")"
check "its fee is the item's 120.00 yuan, not due yet" \
  holds "d['application']['fee']['amountFen'] == '12000' and not d['application']['fee'].get('due', False)"
order "$N" k-early
expect_status "no order before approval (412)" 412

step "$N" accept
step "$N" start-review
step "$N" decide '{"decision":"APPROVE"}'
check "approved, the fee is due" holds "d['status'] == 'APPROVED' and d['fee']['due'] == True"
step "$N" complete
expect_status "the department cannot complete it before the fee is paid (412)" 412

order "$N" k-1
expect_status "the resident asks for the order of the fee (200)" 200
ID="$(field "d['id']")"
check "an order of the application: its amount, payee and item" \
  holds "d['source'] == 'ORDER_SOURCE_APPLICATION' and d['applicationNumber'] == '$N' and d['amountFen'] == '12000' and d['payeeDepartment'] == '320700-GA' and d['itemCode'] == '$ITEM'"
check "its payer is the resident's verified name, asked of yw-identity (not the account id)" \
  holds "d['payerName'] == '张三'"
# yw-identity paused: an open order is answered without asking it (only a new order
# needs the payer's name)
kill -STOP "$IDENTITY_PID"
order "$N" k-2
kill -CONT "$IDENTITY_PID"
expect_status "asked again (another key) with yw-identity paused (200)" 200
check "the same open order" holds "d['id'] == '$ID'"

req POST "/v1/payments/orders/$ID:pay" "$RES" '{"channel":"sim"}'
expect_status "the resident pays on channel sim" 200
NO="$(field "d['outTradeNo']")"
curl -fsS -o /dev/null "$PAYSIM/sim/sim/pay" -d "{\"out_trade_no\":\"$NO\",\"payer\":\"o_e2e\",\"notify\":\"normal\"}"
check "the channel's notification books the order PAID" poll "/v1/payments/orders/$ID" "$RES" \
  "d['status'] == 'ORDER_STATUS_PAID'"
check "yw-applications records the payment from yw-payment's stream" poll "/v1/applications/$N" "$RES" \
  "d['fee'].get('paid') == True and d['fee']['orderId'] == '$ID' and d['timeline'][-1]['reason'] == '已缴费'"
step "$N" complete
expect_status "then the department completes it (200)" 200
check "COMPLETED" holds "d['status'] == 'COMPLETED'"
check "the public progress lookup shows the step 已缴费" poll "/v1/progress/$N?queryCode=$QC" "" \
  "any(s.get('reason') == '已缴费' for s in d['timeline']) and d['status'] == 'COMPLETED'"

# the fiscal e-receipt: issued by yw-payment's pass, checked offline with openssl
check "the payer reads the order's e-receipt" poll "/v1/payments/orders/$ID/receipt" "$RES" \
  "len(d.get('receipts', [])) == 1"
check "a BLUE receipt of 120.00 yuan issued by the payee department" \
  holds "d['receipts'][0]['kind'] == 'RECEIPT_KIND_BLUE' and d['receipts'][0]['amountFen'] == '12000' and d['receipts'][0]['issuer'] == '320700-GA'"
field "d['receipts'][0]['content']" >"$E2E_TMP/receipt.json"
printf '%s' "$(cat "$E2E_TMP/receipt.json")" >"$E2E_TMP/receipt.content"
field "d['receipts'][0]['signature']" | base64 -d >"$E2E_TMP/receipt.sig"
check "the receipt names the payer by the verified name" \
  holds "json.loads(d['receipts'][0]['content'])['payer'] == '张三'"
RNUM="$(field "d['receipts'][0]['number']")"
RCODE="$(field "d['receipts'][0]['verifyCode']")"
check "its SM2 signature verifies offline with openssl under the seal's public key" \
  openssl pkeyutl -verify -pubin -inkey "$E2E_TMP/receipts.pub" -rawin -digest sm3 \
  -pkeyopt distid:1234567812345678 -in "$E2E_TMP/receipt.content" -sigfile "$E2E_TMP/receipt.sig"
sed 's/12000/92000/' "$E2E_TMP/receipt.content" >"$E2E_TMP/receipt.changed"
check "a changed content does not" \
  eval '! openssl pkeyutl -verify -pubin -inkey "$E2E_TMP/receipts.pub" -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in "$E2E_TMP/receipt.changed" -sigfile "$E2E_TMP/receipt.sig" >/dev/null 2>&1'
req GET "/v1/payments/receipts/$RNUM?verifyCode=$RCODE"
expect_status "anyone verifies it by number and code (200)" 200
check "genuine, the payer masked" holds "d['genuine'] == True and d['receipt']['payer'] == '*三'"
req GET "/v1/payments/receipts/$RNUM?verifyCode=0000000000000000"
expect_status "a wrong code is 404" 404

# --- a company's fee: the company's, whoever filed the application ----------------------
# 张三 represents the company; his agent (scope apply) files for it; the representative,
# acting for the company, asks for the order; the agent acting for nobody gets 404
CO=91350100M000100Y43
AGENT="$(verified_resident 13900000032 王小明 320703200002294566)"
req POST /v1/me/legal-persons "$RES" "{\"creditCode\":\"$CO\"}"
expect_status "the resident binds the company he represents" 200
FUTURE="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
req POST "/v1/me/legal-persons/$CO/agents" "$RES" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"apply\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "and authorises an agent to apply" 200
req POST /v1/me/legal-persons "$AGENT" "{\"creditCode\":\"$CO\"}"
req POST /v1/me/acting-for "$AGENT" "{\"creditCode\":\"$CO\"}"
expect_status "the agent acts for the company" 200
# the passport is for natural persons only: an item companies file, paid online
CO_ITEM=QR00018000-320700-ZRZY # 国有建设用地使用权及房屋所有权首次登记: 80.00 yuan online,
e2e_staff zrzy.clerk 320700-ZRZY dept_staff # 320700-ZRZY with 320700-SW
ZRZY="$(e2e_staff_token zrzy.clerk)"
e2e_staff sw.clerk 320700-SW dept_staff
SW="$(e2e_staff_token sw.clerk)"
req POST /v1/applications "$AGENT" "{\"itemCode\":\"$CO_ITEM\"}"
expect_status "the agent files for the company" 200
check "as the company's" holds "d['application']['applicantKind'] == 'company' and d['application']['applicantOrg'] == '$CO'"
CN="$(field "d['application']['number']")"
for verb in accept start-review; do
  req POST "/v1/departments/320700-ZRZY/applications/$CN:$verb" "$ZRZY" '{}'
done
req POST "/v1/departments/320700-ZRZY/applications/$CN:decide" "$ZRZY" '{"decision":"APPROVE"}'
expect_status "the lead department approves it" 200
req POST "/v1/departments/320700-SW/applications/$CN:decide" "$SW" '{"decision":"APPROVE"}'
expect_status "and so does the joint one" 200
check "approved, its fee is due" holds "d['fee']['due'] == True"
co_order() { # co_order TOKEN KEY
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders" -H "authorization: Bearer $1" \
    -H 'content-type: application/json' -H "idempotency-key: $2" --data-binary "{\"applicationNumber\":\"$CN\"}")"
}
co_order "$AGENT" k-co-1
expect_status "the agent without the scope pay cannot ask for the order (403)" 403
req POST /v1/me/acting-for "$AGENT" '{"creditCode":""}'
co_order "$AGENT" k-co-2
expect_status "acting for nobody, the company's application is not his (404)" 404
co_order "$RES" k-co-3
expect_status "nor the representative's while he acts for nobody (404)" 404
req POST /v1/me/acting-for "$RES" "{\"creditCode\":\"$CO\"}"
co_order "$RES" k-co-4
expect_status "acting for the company, the representative asks for the order of the agent's filing" 200
check "an order of that application" holds "d['applicationNumber'] == '$CN'"

finish
